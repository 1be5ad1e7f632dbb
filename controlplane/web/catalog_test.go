package web

import (
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// TestCataloguesMatch checks that every area's English and Japanese
// catalogues hold the same keys, and that every key a template names
// exists.
func TestCataloguesMatch(t *testing.T) {
	files, err := fs.Glob(localeFS, "locales/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	byLang := map[string]map[string]string{"en": {}, "ja": {}}
	areas := map[string]map[string][]string{}
	for _, f := range files {
		base := strings.TrimSuffix(strings.TrimPrefix(f, "locales/"), ".toml")
		area, lang, ok := strings.Cut(base, ".")
		if !ok || byLang[lang] == nil {
			t.Errorf("%s: want locales/<area>.<en|ja>.toml", f)
			continue
		}
		raw, err := fs.ReadFile(localeFS, f)
		if err != nil {
			t.Fatal(err)
		}
		msgs := map[string]any{}
		if err := toml.Unmarshal(raw, &msgs); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if areas[area] == nil {
			areas[area] = map[string][]string{}
		}
		for k, v := range msgs {
			if _, dup := byLang[lang][k]; dup {
				t.Errorf("%s: key %q is also in another %s catalogue", f, k, lang)
			}
			s, _ := v.(string)
			byLang[lang][k] = s
			areas[area][lang] = append(areas[area][lang], k)
		}
	}
	for area, langs := range areas {
		en, ja := langs["en"], langs["ja"]
		slices.Sort(en)
		slices.Sort(ja)
		for _, k := range en {
			if _, ok := slices.BinarySearch(ja, k); !ok {
				t.Errorf("area %s: %q has no Japanese message", area, k)
			}
		}
		for _, k := range ja {
			if _, ok := slices.BinarySearch(en, k); !ok {
				t.Errorf("area %s: %q has no English message", area, k)
			}
		}
	}

	used := regexp.MustCompile(`\.T "([^"]+)"`)
	tmpls, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tmpls {
		raw, err := fs.ReadFile(templateFS, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range used.FindAllStringSubmatch(string(raw), -1) {
			if _, ok := byLang["en"][m[1]]; !ok && !hasPluralForms(byLang["en"], m[1]) {
				t.Errorf("%s uses %q, which no catalogue has", f, m[1])
			}
		}
	}
}

// hasPluralForms reports whether key is a table of plural forms, which
// the flat reading above does not keep as a string.
func hasPluralForms(msgs map[string]string, key string) bool {
	v, ok := msgs[key]
	return ok && v == ""
}
