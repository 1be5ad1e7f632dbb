package transfer

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func TestNormalizeDuration(t *testing.T) {
	tests := []struct{ in, want string }{
		{"838:59:59", "838:59:59"},
		{"-838:59:59", "-838:59:59"},
		{"1 day 01:00:00", "25:00:00"},
		{"-2 days +01:00:00", "-47:00:00"},
		{"3 days", "72:00:00"},
		{"1 day -00:00:00.5", "23:59:59.5"},
		{"00:00:00", "00:00:00"},
	}
	for _, tt := range tests {
		got, err := normalizeDuration(tt.in)
		if err != nil {
			t.Errorf("normalizeDuration(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("normalizeDuration(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if _, err := normalizeDuration("1 mon 2 days"); err == nil {
		t.Error("an interval with months was accepted")
	}
}

func TestUnescapeCopy(t *testing.T) {
	tests := []struct {
		in   string
		want []byte
	}{
		{`plain`, []byte("plain")},
		{`a\tb\nc\\d`, []byte("a\tb\nc\\d")},
		{`\x41\101\b`, []byte("AA\b")},
		{``, []byte{}},
	}
	for _, tt := range tests {
		if got := unescapeCopy([]byte(tt.in)); !bytes.Equal(got, tt.want) {
			t.Errorf("unescapeCopy(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := unescapeCopy([]byte(`\N`)); got != nil {
		t.Errorf(`unescapeCopy(\N) = %q, want nil for NULL`, got)
	}
}

func TestAfterCondition(t *testing.T) {
	got := afterCondition(mysqlDialect{}, []string{"day", "seq"}, []Kind{KindDate, KindInt}, []string{"2024-01-02", "7"})
	want := "((`day` > '2024-01-02') OR (`day` = '2024-01-02' AND `seq` > 7))"
	if got != want {
		t.Errorf("afterCondition = %s, want %s", got, want)
	}
	// A value that is not a number stays quoted rather than injected.
	if got := sqlLiteral(postgresDialect{}, KindInt, "1; DROP TABLE t"); got != "'1; DROP TABLE t'" {
		t.Errorf("sqlLiteral = %s", got)
	}
}

func TestSplitRange(t *testing.T) {
	parts := splitRange("id", 1, 10000, 3)
	if len(parts) != 3 {
		t.Fatalf("got %d partitions, want 3", len(parts))
	}
	want := [][]string{{"id <= 3334"}, {"id >= 3335", "id <= 6668"}, {"id >= 6669"}}
	for i, p := range parts {
		if len(p.conds) != len(want[i]) {
			t.Errorf("partition %d = %v, want %v", i, p.conds, want[i])
			continue
		}
		for j := range want[i] {
			if p.conds[j] != want[i][j] {
				t.Errorf("partition %d = %v, want %v", i, p.conds, want[i])
			}
		}
	}
	if parts := splitRange("id", 1, 100, 4); len(parts) != 1 {
		t.Errorf("a 100-key range split into %d partitions, want 1", len(parts))
	}
}

func TestDecimalBytes(t *testing.T) {
	tests := []struct {
		in    string
		scale int
		want  string
	}{
		{"1.5", 2, "0096"},
		{"-12.34", 2, "fb2e"},
		{"0", 0, "00"},
		{"-1", 0, "ff"},
		{"128", 0, "0080"},
	}
	for _, tt := range tests {
		got, err := decimalBytes(tt.in, tt.scale)
		if err != nil {
			t.Errorf("decimalBytes(%q): %v", tt.in, err)
			continue
		}
		if hex.EncodeToString(got) != tt.want {
			t.Errorf("decimalBytes(%q, %d) = %x, want %s", tt.in, tt.scale, got, tt.want)
		}
	}
}

func TestIsZeroDate(t *testing.T) {
	for in, want := range map[string]bool{
		"0000-00-00": true, "0000-00-00 00:00:00": true, "2024-00-10": true, "2024-05-00": true,
		"0001-01-01": false, "2024-03-10 02:30:00": false,
	} {
		if got := isZeroDate(in); got != want {
			t.Errorf("isZeroDate(%q) = %v, want %v", in, got, want)
		}
	}
}
