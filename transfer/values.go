package transfer

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// formatFloat returns the shortest text that reads back as the same value
// at the column's width, with NaN and the infinities spelled as PostgreSQL,
// SQLite and JSON consumers accept them.
func formatFloat(v float64, bits int) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "Infinity"
	case math.IsInf(v, -1):
		return "-Infinity"
	}
	if bits != 32 {
		bits = 64
	}
	return strconv.FormatFloat(v, 'g', -1, bits)
}

// valueSize estimates the memory a value takes, for batch sizing.
func valueSize(v any) int {
	switch x := v.(type) {
	case string:
		return len(x) + 16
	case []byte:
		return len(x) + 24
	case copyLine:
		return len(x) + 16
	}
	return 16
}

// plainText returns the canonical text of a non-NULL value, as CSV and
// JSON Lines files and SQL literals use it. Bytes are base64, booleans
// true/false.
func plainText(col *Column, v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		return formatFloat(x, col.Bits)
	case bool:
		return strconv.FormatBool(x)
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	}
	return fmt.Sprint(v)
}

// jsonValue returns a value as JSON for JSON Lines files and lastRecord.
// Integers, floats and booleans are JSON numbers and booleans, JSON columns
// are embedded as they are, and everything else is a string, decimals
// included, so that no reader rounds them through float64.
func jsonValue(col *Column, v any) json.RawMessage {
	if v == nil {
		return json.RawMessage("null")
	}
	switch x := v.(type) {
	case int64:
		return json.RawMessage(strconv.FormatInt(x, 10))
	case uint64:
		return json.RawMessage(strconv.FormatUint(x, 10))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			break
		}
		return json.RawMessage(formatFloat(x, col.Bits))
	case bool:
		return json.RawMessage(strconv.FormatBool(x))
	case string:
		if col.Kind == KindJSON && json.Valid([]byte(x)) {
			return json.RawMessage(x)
		}
	}
	b, _ := json.Marshal(plainText(col, v))
	return b
}

// rawToText turns a lastRecord JSON value into the text of a SQL literal.
func rawToText(raw json.RawMessage) (string, error) {
	var v any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		if x {
			return "1", nil
		}
		return "0", nil
	case nil:
		return "", fmt.Errorf("null is not a position; remove the column from lastRecord or give a value")
	}
	return "", fmt.Errorf("a %T is not a position; use a string or a number", v)
}

// hasMonths reports whether a PostgreSQL interval text has a months or
// years part.
func hasMonths(interval string) bool {
	return strings.Contains(interval, "mon") || strings.Contains(interval, "year")
}

// normalizeDuration rewrites a TIME or interval text "[-]H:MM:SS[.ffffff]"
// with optional leading "N days" into the canonical form with hours
// possibly above 23. It rejects months and years, which have no fixed length.
func normalizeDuration(s string) (string, error) {
	days := int64(0)
	rest := strings.TrimSpace(s)
	if hasMonths(rest) {
		return "", fmt.Errorf("interval %q has months or years, which have no fixed duration", s)
	}

	if i := strings.Index(rest, " day"); i >= 0 {
		d, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil {
			return "", fmt.Errorf("invalid interval %q", s)
		}
		days = d
		rest = strings.TrimSpace(rest[i+len(" day"):])
		rest = strings.TrimPrefix(rest, "s")
		rest = strings.TrimSpace(rest)
	}

	if days == 0 {
		if rest == "" {
			return "00:00:00", nil
		}
		return rest, nil
	}

	neg := strings.HasPrefix(rest, "-")
	clock := strings.TrimLeft(rest, "+-")
	if clock == "" {
		clock = "00:00:00"
	}
	parts := strings.SplitN(clock, ":", 2)
	hours, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || len(parts) != 2 {
		return "", fmt.Errorf("invalid interval %q", s)
	}
	micros := (hours*3600)*1_000_000 + mustClockMicros(parts[1])
	if neg {
		micros = -micros
	}
	micros += days * 86400 * 1_000_000
	return formatDurationMicros(micros), nil
}

// mustClockMicros converts "MM:SS[.ffffff]" into microseconds.
func mustClockMicros(s string) int64 {
	ms := strings.SplitN(s, ":", 2)
	if len(ms) != 2 {
		return 0
	}
	minutes, _ := strconv.ParseInt(ms[0], 10, 64)
	secText, fracText, _ := strings.Cut(ms[1], ".")
	seconds, _ := strconv.ParseInt(secText, 10, 64)
	frac := int64(0)
	if fracText != "" {
		fracText = (fracText + "000000")[:6]
		frac, _ = strconv.ParseInt(fracText, 10, 64)
	}
	return (minutes*60+seconds)*1_000_000 + frac
}

func formatDurationMicros(micros int64) string {
	sign := ""
	if micros < 0 {
		sign = "-"
		micros = -micros
	}
	frac := micros % 1_000_000
	secs := micros / 1_000_000
	out := fmt.Sprintf("%s%02d:%02d:%02d", sign, secs/3600, secs/60%60, secs%60)
	if frac != 0 {
		out += strings.TrimRight(fmt.Sprintf(".%06d", frac), "0")
	}
	return out
}

// isZeroDate reports whether a MySQL DATE or DATETIME text has a zero year,
// month or day, as '0000-00-00' and '2024-00-10' do. Such values have no
// calendar meaning and the engine turns them into NULL.
func isZeroDate(s string) bool {
	if len(s) < 10 {
		return false
	}
	return s[0:4] == "0000" || s[5:7] == "00" || s[8:10] == "00"
}
