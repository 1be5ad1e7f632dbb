package web

import (
	"fmt"
	"io/fs"
	"regexp"
	"testing"

	"github.com/BurntSushi/toml"
)

// jaText matches one character of Japanese text.
const jaText = `[\p{Han}\p{Hiragana}\p{Katakana}ー]`

// jaNumberArgs matches the message arguments whose values are numbers.
const jaNumberArgs = `\{\{\.(Max|Min|Count|Seconds|Total|Shown|Attempt|Rate|Span|Length|Value)\}\}`

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
	// A number inside a URL, a version or a date (after ".", ":", "/" or
	// "-") is part of a Latin run and keeps its spaces.
	{"write no space between Japanese text and a number, as in 1行に1つ (Latin words keep their spaces)",
		regexp.MustCompile(jaText + ` (\d|` + jaNumberArgs + `)|(^|[^\w.:/-])\d[\d,]* ` + jaText + `|` + jaNumberArgs + ` ` + jaText)},
	{"end ブラウザー, サーバー, ユーザー and the like with ー, as in クラスター",
		regexp.MustCompile(`(ブラウザ|サーバ|ユーザ|パラメータ|ドライバ|クラスタ|フィルタ|コンピュータ|ヘッダ|フォルダ)([^ー]|$)`)},
	{"end a message that holds a sentence with 。, ？, …, 」 or ）",
		regexp.MustCompile(`。[^。]*[^。？…」）\]]$`)},
	{"ask the question of a confirm prompt last, after what will happen",
		regexp.MustCompile(`？[^」）]`)},
	{"quote characters as 「.」, not '.'", regexp.MustCompile(`'[._-]'`)},
	{"call the ends 転送元 and 転送先, the position 最終レコード",
		regexp.MustCompile(`出力先|書き込み先|読み込み元|最終レコード位置`)},
}

// jaStartEnd is the reason the jobs filter avoids 開始 and 終了.
const jaStartEnd = "開始 and 終了 read as the job's start and end times, not as bounds on its creation time"

// jaMessageRules are wordings that a native reader misread in one message,
// each with the pattern of that wording.
var jaMessageRules = []struct {
	key, rule string
	pattern   *regexp.Regexp
}{
	{"jobs.filter.from", jaStartEnd, regexp.MustCompile(`開始|終了`)},
	{"jobs.filter.to", jaStartEnd, regexp.MustCompile(`開始|終了`)},
	{"jobs.filter.toBeforeFrom", jaStartEnd, regexp.MustCompile(`開始|終了`)},
	{"jobs.chart.title", "時間ごと reads as per hour, but the chart shows the rate over time", regexp.MustCompile(`時間ごと`)},
	{"jobs.cancel.confirm", "保証する整合性 and 整合性を保った状態で残ります read stiffly: say 一貫した状態に保たれます", regexp.MustCompile(`保証する|整合性`)},
	{"jobs.result.interrupted", "シグナルで停止 reads technical: say what stopped the run", regexp.MustCompile(`シグナル`)},
	{"jobs.result.cancelled", "シグナルで停止 reads technical: say what stopped the run", regexp.MustCompile(`シグナル`)},
	{"configs.parallelismDefault", "読み取り1本 is an odd counter: say the number of CPUs", regexp.MustCompile(`ごとに|本`)},
	{"connections.serverHint", "届くアドレス reads as an address that arrives: say 到達できる", regexp.MustCompile(`届く`)},
	{"configs.clusterUnknown", "the cluster existed when the form was shown: say it no longer exists", regexp.MustCompile(`は存在しません`)},
	{"configs.connectionUnknown", "the connection existed when the form was shown: say it no longer exists", regexp.MustCompile(`は存在しません`)},
	{"clusters.installSecret", "どちらも has no clear referent: name the namespace and the Secret", regexp.MustCompile(`どちらも`)},
	{"signin.tooMany", "このアドレス leaves the kind of address open: say この IP アドレス", regexp.MustCompile(`この(アドレス|IPアドレス)`)},
	{"common.offline", "一時停止 reads as if the user paused the updates, but the stream dropped", regexp.MustCompile(`一時停止`)},
}

func TestJapaneseCatalogueStyle(t *testing.T) {
	for key, texts := range japaneseMessages(t) {
		for _, text := range texts {
			for _, r := range jaStyleRules {
				if m := r.pattern.FindString(text); m != "" {
					t.Errorf("%q has %q: %s", key, m, r.rule)
				}
			}
		}
	}
}

func TestJapaneseMessagesReadAsMeant(t *testing.T) {
	messages := japaneseMessages(t)
	for _, r := range jaMessageRules {
		texts, ok := messages[r.key]
		if !ok {
			t.Errorf("no Japanese message %q", r.key)
		}
		for _, text := range texts {
			if m := r.pattern.FindString(text); m != "" {
				t.Errorf("%q has %q: %s", r.key, m, r.rule)
			}
		}
	}
}

// japaneseMessages reads every Japanese catalogue and returns the texts of
// each message by key.
func japaneseMessages(t *testing.T) map[string][]string {
	t.Helper()
	files, err := fs.Glob(localeFS, "locales/*.ja.toml")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
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
			out[key] = messageTexts(value)
		}
	}
	return out
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
