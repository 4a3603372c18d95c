// Package listquery parses the `filter` and `order_by` parameters of List RPCs: terms
// `field op value` joined by AND (a subset of AIP-160), values optionally in double quotes, and
// an ordering `field [asc|desc]`. Each service declares its fields; the parser refuses anything
// else with a field violation on `filter` or `order_by`, in Chinese and English.
//
// It is pure Go: no database, gRPC or NATS imports. Turning conditions into SQL stays in each
// service's store, against a fixed map of column names.
package listquery

import (
	"strings"
	"time"
	"unicode"

	"github.com/crmsuite/crm/pkg/validate"
)

// Kind is what values a field takes, and so which operators it allows.
type Kind int

// Field kinds: Text, Enum and Bool allow = and !=; Time and Date also < <= > >=.
const (
	Text Kind = iota
	Enum
	Bool
	Time
	Date
)

// Field describes one filterable field.
type Field struct {
	Kind Kind
	// Canon returns the stored form of a value (an enum value in the domain's spelling, a province
	// in full); ok=false refuses the value. Required for Enum, optional for Text.
	Canon func(v string) (string, bool)
}

// Condition is one parsed term. Value is canonical; Time holds the instant of Time fields and
// midnight UTC of Date fields.
type Condition struct {
	Field string
	Op    string
	Value string
	Time  time.Time
}

// MaxTerms bounds a filter, so one request cannot build an arbitrarily large query.
const MaxTerms = 20

// china is the zone of dates given without one (China Standard Time, no daylight saving).
var china = time.FixedZone("CST", 8*3600)

func filterError(zh, en string) error {
	return &validate.Error{Violations: []validate.Violation{{Field: "filter", Reason: validate.ReasonInvalidFormat,
		Message: validate.Message{ZH: "筛选条件有误：" + zh, EN: "invalid filter: " + en}}}}
}

// Parse parses a filter over the given fields. An empty filter gives no conditions.
func Parse(s string, fields map[string]Field) ([]Condition, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	var out []Condition
	for i := 0; i < len(toks); {
		if len(out) > 0 {
			if !strings.EqualFold(toks[i], "AND") {
				return nil, filterError("条件之间只支持 AND，位置："+toks[i], "terms must be joined by AND, got "+toks[i])
			}
			i++
		}
		if i+3 > len(toks) {
			return nil, filterError("条件不完整，应为“字段 运算符 值”", "incomplete term: expected `field op value`")
		}
		c, err := condition(fields, toks[i], toks[i+1], toks[i+2])
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		i += 3
	}
	if len(out) > MaxTerms {
		return nil, filterError("条件过多（最多20个）", "too many terms (at most 20)")
	}
	return out, nil
}

func condition(fields map[string]Field, name, op, raw string) (Condition, error) {
	f, ok := fields[name]
	if !ok {
		return Condition{}, filterError("不支持的字段 "+name, "unknown field "+name)
	}
	switch op {
	case "=", "!=":
	case "<", "<=", ">", ">=":
		if f.Kind != Time && f.Kind != Date {
			return Condition{}, filterError(name+" 只支持 = 和 !=", name+" supports only = and !=")
		}
	default:
		return Condition{}, filterError("不支持的运算符 "+op, "unknown operator "+op)
	}
	value := strings.Trim(raw, `"`)
	c := Condition{Field: name, Op: op, Value: value}
	switch f.Kind {
	case Time:
		t, err := time.Parse(time.RFC3339, value)
		if err != nil {
			d, err2 := time.ParseInLocation(time.DateOnly, value, china)
			if err2 != nil {
				return Condition{}, filterError(name+" 的时间格式应为 RFC 3339 或 YYYY-MM-DD", name+" must be an RFC 3339 time or YYYY-MM-DD")
			}
			t = d
		}
		c.Time = t
	case Date:
		d, err := time.Parse(time.DateOnly, value)
		if err != nil {
			return Condition{}, filterError(name+" 的日期格式应为 YYYY-MM-DD", name+" must be a date YYYY-MM-DD")
		}
		c.Time = d
	case Bool:
		switch strings.ToLower(value) {
		case "true", "false":
			c.Value = strings.ToLower(value)
		default:
			return Condition{}, filterError(name+" 只能是 true 或 false", name+" must be true or false")
		}
	}
	if f.Canon != nil && (f.Kind == Enum || f.Kind == Text) {
		v, ok := f.Canon(value)
		if !ok {
			return Condition{}, filterError(name+" 的取值无效："+value, "unknown "+name+" value "+value)
		}
		c.Value = v
	}
	return c, nil
}

// EnumCanon returns a Canon for an enum field: it accepts the domain's spelling or the API's enum
// name with or without its prefix (`won`, `WON`, `NEED_STAGE_WON`), in any case.
func EnumCanon[T ~string](prefix string, all []T) func(string) (string, bool) {
	return func(v string) (string, bool) {
		u := strings.TrimPrefix(strings.ToUpper(v), prefix)
		for _, e := range all {
			if strings.ToUpper(string(e)) == u {
				return string(e), true
			}
		}
		return "", false
	}
}

// tokenize splits a filter into words, operators and quoted strings.
func tokenize(s string) ([]string, error) {
	var toks []string
	r := []rune(s)
	for i := 0; i < len(r); {
		switch c := r[i]; {
		case unicode.IsSpace(c):
			i++
		case c == '"':
			j := i + 1
			for j < len(r) && r[j] != '"' {
				j++
			}
			if j == len(r) {
				return nil, filterError("引号未闭合", "unterminated quote")
			}
			toks = append(toks, string(r[i:j+1]))
			i = j + 1
		case strings.ContainsRune("=!<>", c):
			j := i + 1
			if j < len(r) && r[j] == '=' {
				j++
			}
			toks = append(toks, string(r[i:j]))
			i = j
		default:
			j := i
			for j < len(r) && !unicode.IsSpace(r[j]) && !strings.ContainsRune("=!<>\"", r[j]) {
				j++
			}
			toks = append(toks, string(r[i:j]))
			i = j
		}
	}
	return toks, nil
}

// Order is a list ordering.
type Order struct {
	Field string
	Desc  bool
}

// ParseOrder parses order_by: one of the allowed fields, optionally followed by `asc` or `desc`;
// empty gives def.
func ParseOrder(s string, allowed []string, def Order) (Order, error) {
	parts := strings.Fields(s)
	if len(parts) == 0 {
		return def, nil
	}
	list := strings.Join(allowed, "、")
	bad := &validate.Error{Violations: []validate.Violation{{Field: "order_by", Reason: validate.ReasonInvalidFormat,
		Message: validate.Message{ZH: "排序只支持 " + list + "，可加 desc", EN: "order_by must be one of " + strings.Join(allowed, ", ") + ", optionally followed by desc"}}}}
	if len(parts) > 2 {
		return Order{}, bad
	}
	o := Order{Field: parts[0]}
	known := false
	for _, a := range allowed {
		known = known || a == o.Field
	}
	if !known {
		return Order{}, bad
	}
	if len(parts) == 2 {
		switch strings.ToLower(parts[1]) {
		case "desc":
			o.Desc = true
		case "asc":
		default:
			return Order{}, bad
		}
	}
	return o, nil
}
