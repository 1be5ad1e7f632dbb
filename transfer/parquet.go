package transfer

import (
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
)

// parquetWriter writes rows to a Parquet file with one optional column per
// source column, typed as closely as Parquet allows. Decimals become
// DECIMAL byte arrays, dates DATE and timestamps microsecond TIMESTAMPs.
// TIME durations become strings, because Parquet TIME cannot exceed 24 hours.
type parquetWriter struct {
	w       *parquet.GenericWriter[any]
	columns []Column
	// leaf[i] is the Parquet column index of source column i.
	leaf []int
	rows []parquet.Row
}

// parquetRowGroupRows bounds the rows buffered per row group, which keeps
// memory flat for large tables.
const parquetRowGroupRows = 65536

func newParquetWriter(out io.Writer, schema Schema) (*parquetWriter, error) {
	group := parquet.Group{}
	for _, c := range schema.Columns {
		group[c.Name] = parquet.Optional(parquetNode(c))
	}
	ps := parquet.NewSchema("ferry", group)
	pw := &parquetWriter{columns: schema.Columns, leaf: make([]int, len(schema.Columns))}
	for i, c := range schema.Columns {
		leaf, ok := ps.Lookup(c.Name)
		if !ok {
			return nil, fmt.Errorf("parquet schema lost column %q", c.Name)
		}
		pw.leaf[i] = leaf.ColumnIndex
	}
	options := []parquet.WriterOption{ps, parquet.MaxRowsPerRowGroup(parquetRowGroupRows)}
	for _, c := range schema.Columns {
		if mayHoldLargeValues(c) {
			// Page and column chunk statistics would copy a column's min
			// and max values whole, so a 5 MB text would be stored several
			// times over.
			options = append(options, parquet.SkipPageBounds(c.Name), parquet.SkipPageStatistics(c.Name))
		}
	}
	pw.w = parquet.NewGenericWriter[any](out, options...)
	return pw, nil
}

// maxBoundedValueLength is the longest declared string or bytes length, in
// characters or bytes, for which the Parquet writer keeps min/max statistics.
const maxBoundedValueLength = 64

// mayHoldLargeValues reports whether a column's values may be long enough
// that copying them into statistics would bloat the file: text, bytes and
// JSON without a declared length or with a long one.
func mayHoldLargeValues(c Column) bool {
	switch c.Kind {
	case KindString, KindBytes, KindJSON:
		return c.Length == 0 || c.Length > maxBoundedValueLength
	}
	return false
}

func parquetNode(c Column) parquet.Node {
	switch c.Kind {
	case KindInt:
		if c.Unsigned && c.Bits == 64 {
			return parquet.Uint(64)
		}
		if c.Bits <= 16 || (c.Bits <= 32 && !(c.Bits == 32 && c.Unsigned)) {
			return parquet.Int(32)
		}
		return parquet.Int(64)
	case KindDecimal:
		if c.Precision > 0 {
			return parquet.Decimal(c.Scale, c.Precision, parquet.ByteArrayType)
		}
		return parquet.String()
	case KindFloat:
		if c.Bits == 32 {
			return parquet.Leaf(parquet.FloatType)
		}
		return parquet.Leaf(parquet.DoubleType)
	case KindBool:
		return parquet.Leaf(parquet.BooleanType)
	case KindBytes:
		return parquet.Leaf(parquet.ByteArrayType)
	case KindJSON:
		return parquet.JSON()
	case KindDate:
		return parquet.Date()
	case KindTimestamp:
		return parquet.TimestampAdjusted(parquet.Microsecond, false)
	case KindTimestampTZ:
		return parquet.TimestampAdjusted(parquet.Microsecond, true)
	}
	return parquet.String()
}

func (p *parquetWriter) write(rows [][]any) error {
	p.rows = p.rows[:0]
	for _, row := range rows {
		out := make(parquet.Row, len(row))
		for i, v := range row {
			val, err := p.value(&p.columns[i], v)
			if err != nil {
				return dataError("column %q: %v", p.columns[i].Name, err)
			}
			def := 1
			if v == nil {
				def = 0
			}
			out[p.leaf[i]] = val.Level(0, def, p.leaf[i])
		}
		p.rows = append(p.rows, out)
	}
	_, err := p.w.WriteRows(p.rows)
	return err
}

func (p *parquetWriter) value(c *Column, v any) (parquet.Value, error) {
	switch x := v.(type) {
	case nil:
		return parquet.Value{}, nil
	case int64:
		if c.Bits <= 32 && !(c.Bits == 32 && c.Unsigned) {
			return parquet.Int32Value(int32(x)), nil
		}
		return parquet.Int64Value(x), nil
	case uint64:
		return parquet.Int64Value(int64(x)), nil
	case float64:
		if c.Bits == 32 {
			return parquet.FloatValue(float32(x)), nil
		}
		return parquet.DoubleValue(x), nil
	case bool:
		return parquet.BooleanValue(x), nil
	case []byte:
		return parquet.ByteArrayValue(x), nil
	case string:
		switch c.Kind {
		case KindDecimal:
			if c.Precision > 0 {
				b, err := decimalBytes(x, c.Scale)
				if err != nil {
					return parquet.Value{}, err
				}
				return parquet.ByteArrayValue(b), nil
			}
		case KindDate:
			t, err := time.Parse("2006-01-02", x)
			if err != nil {
				return parquet.Value{}, err
			}
			return parquet.Int32Value(int32(t.Unix() / 86400)), nil
		case KindTimestamp, KindTimestampTZ:
			t, err := time.Parse("2006-01-02 15:04:05.999999", x)
			if err != nil {
				return parquet.Value{}, err
			}
			return parquet.Int64Value(t.UnixMicro()), nil
		}
		return parquet.ByteArrayValue([]byte(x)), nil
	}
	return parquet.Value{}, fmt.Errorf("unexpected value type %T", v)
}

// decimalBytes encodes a decimal text as Parquet's DECIMAL: the unscaled
// integer in big-endian two's complement.
func decimalBytes(text string, scale int) ([]byte, error) {
	neg := strings.HasPrefix(text, "-")
	digits := strings.TrimLeft(text, "+-")
	intPart, frac, _ := strings.Cut(digits, ".")
	if len(frac) > scale {
		return nil, fmt.Errorf("decimal %s has more than %d fraction digits", text, scale)
	}
	frac += strings.Repeat("0", scale-len(frac))
	n, ok := new(big.Int).SetString(intPart+frac, 10)
	if !ok {
		return nil, fmt.Errorf("invalid decimal %q", text)
	}
	if neg {
		n.Neg(n)
	}
	if n.Sign() >= 0 {
		b := n.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b, nil
	}
	// Two's complement of a negative number in the fewest bytes.
	size := (n.BitLen() + 8) / 8
	mod := new(big.Int).Lsh(big.NewInt(1), uint(size*8))
	b := new(big.Int).Add(mod, n).Bytes()
	for len(b) < size {
		b = append([]byte{0xff}, b...)
	}
	return b, nil
}

func (p *parquetWriter) close() error { return p.w.Close() }
