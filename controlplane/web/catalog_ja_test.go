package web

import (
	"fmt"
	"io/fs"
	"regexp"
	"testing"

	"github.com/BurntSushi/toml"
)

// jaStyleRules are the house rules of the Japanese catalogues, each with
// the pattern of a breach.
var jaStyleRules = []struct {
	rule    string
	pattern *regexp.Regexp
}{
	{"use full-width （） next to Japanese text",
		regexp.MustCompile(`[\p{Han}\p{Hiragana}\p{Katakana}ー、。] ?[()]|[()] ?[\p{Han}\p{Hiragana}\p{Katakana}ー]`)},
	{"use a full-width ？ in Japanese", regexp.MustCompile(`[\p{Han}\p{Hiragana}\p{Katakana}ー]\?`)},
	{"write no space between a number and its unit",
		regexp.MustCompile(`(\d|\}\}) (秒|分|時間|行|件|個|文字|回|つ|本)`)},
	{"end ブラウザー, サーバー, ユーザー and the like with ー, as in クラスター",
		regexp.MustCompile(`(ブラウザ|サーバ|ユーザ|パラメータ|ドライバ|クラスタ|フィルタ|コンピュータ|ヘッダ|フォルダ)([^ー]|$)`)},
	{"quote characters as 「.」, not '.'", regexp.MustCompile(`'[._-]'`)},
	{"call the ends 転送元 and 転送先, the position 最終レコード",
		regexp.MustCompile(`出力先|書き込み先|読み込み元|最終レコード位置`)},
}

func TestJapaneseCatalogueStyle(t *testing.T) {
	files, err := fs.Glob(localeFS, "locales/*.ja.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		raw, err := fs.ReadFile(localeFS, f)
		if err != nil {
			t.Fatal(err)
		}
		msgs := map[string]any{}
		if err := toml.Unmarshal(raw, &msgs); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for key, value := range msgs {
			for _, text := range messageTexts(value) {
				for _, r := range jaStyleRules {
					if m := r.pattern.FindString(text); m != "" {
						t.Errorf("%s: %q has %q: %s", f, key, m, r.rule)
					}
				}
			}
		}
	}
}

// messageTexts returns the text of a message, or of each plural form of a
// plural table.
func messageTexts(value any) []string {
	switch v := value.(type) {
	case string:
		return []string{v}
	case map[string]any:
		var out []string
		for _, form := range v {
			out = append(out, fmt.Sprint(form))
		}
		return out
	}
	return nil
}
