package followup

import (
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/crmsuite/crm/pkg/validate"
)

// Condition is one `field op value` term of a list filter. Value is canonical: enum values in the
// domain's spelling, booleans as "true"/"false"; Time holds a parsed contact_time.
type Condition struct {
	Field string
	Op    string
	Value string
	Time  time.Time
}

// filterFields maps the filter fields to their kind.
var filterFields = map[string]string{
	"method": "enum", "kind": "enum", "done": "bool", "owner_id": "text", "customer_id": "text", "contact_time": "time",
}

// enumPrefixes are the API enum prefixes a filter value may carry (`CONTACT_METHOD_PHONE`).
var enumPrefixes = map[string]string{"method": "CONTACT_METHOD_", "kind": "FOLLOW_UP_KIND_"}

func filterError(msgZH, msgEN string) error {
	return &validate.Error{Violations: []validate.Violation{{Field: "filter", Reason: validate.ReasonInvalidFormat,
		Message: validate.Message{ZH: "筛选条件有误：" + msgZH, EN: "invalid filter: " + msgEN}}}}
}

// ParseFilter parses a list filter: terms `field op value` joined by AND (an AIP-160 subset), with
// values optionally in double quotes. allowed names the fields this list accepts; unknown fields
// and operators are refused.
func ParseFilter(s string, allowed ...string) ([]Condition, error) {
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
		if !slices.Contains(allowed, toks[i]) {
			return nil, filterError("不支持的字段 "+toks[i], "unknown field "+toks[i])
		}
		c, err := condition(toks[i], toks[i+1], toks[i+2])
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		i += 3
	}
	if len(out) > 20 {
		return nil, filterError("条件过多（最多20个）", "too many terms (at most 20)")
	}
	return out, nil
}

func condition(fieldName, op, raw string) (Condition, error) {
	kind, ok := filterFields[fieldName]
	if !ok {
		return Condition{}, filterError("不支持的字段 "+fieldName, "unknown field "+fieldName)
	}
	switch op {
	case "=", "!=":
	case "<", "<=", ">", ">=":
		if kind != "time" {
			return Condition{}, filterError(fieldName+" 只支持 = 和 !=", fieldName+" supports only = and !=")
		}
	default:
		return Condition{}, filterError("不支持的运算符 "+op, "unknown operator "+op)
	}
	value := strings.Trim(raw, `"`)
	c := Condition{Field: fieldName, Op: op, Value: value}
	switch kind {
	case "time":
		t, err := time.Parse(time.RFC3339, value)
		if err != nil {
			d, err2 := time.ParseInLocation(time.DateOnly, value, china)
			if err2 != nil {
				return Condition{}, filterError(fieldName+" 的时间格式应为 RFC 3339 或 YYYY-MM-DD", fieldName+" must be an RFC 3339 time or YYYY-MM-DD")
			}
			t = d
		}
		c.Time = t
	case "bool":
		switch strings.ToLower(value) {
		case "true", "false":
			c.Value = strings.ToLower(value)
		default:
			return Condition{}, filterError(fieldName+" 只能是 true 或 false", fieldName+" must be true or false")
		}
	case "enum":
		v, ok := enumValue(fieldName, value)
		if !ok {
			return Condition{}, filterError(fieldName+" 的取值无效："+value, "unknown "+fieldName+" value "+value)
		}
		c.Value = v
	case "text":
		if fieldName == "customer_id" {
			c.Value = strings.ToUpper(value)
		}
	}
	return c, nil
}

func enumValue(fieldName, v string) (string, bool) {
	u := strings.TrimPrefix(strings.ToUpper(v), enumPrefixes[fieldName])
	switch fieldName {
	case "method":
		return matchEnum(u, Methods)
	case "kind":
		return matchEnum(u, Kinds)
	}
	return "", false
}

func matchEnum[T ~string](upper string, all []T) (string, bool) {
	for _, e := range all {
		if strings.ToUpper(string(e)) == upper {
			return string(e), true
		}
	}
	return "", false
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
	Field string // contact_time, create_time or update_time
	Desc  bool
}

// ParseOrder parses order_by: `contact_time`, `create_time` or `update_time`, optionally followed by
// ` desc` or ` asc`. The default is contact_time desc, newest contact first.
func ParseOrder(s string) (Order, error) {
	parts := strings.Fields(s)
	if len(parts) == 0 {
		return Order{Field: "contact_time", Desc: true}, nil
	}
	bad := &validate.Error{Violations: []validate.Violation{{Field: "order_by", Reason: validate.ReasonInvalidFormat,
		Message: validate.Message{ZH: "排序只支持 contact_time、create_time 或 update_time，可加 desc",
			EN: "order_by must be contact_time, create_time or update_time, optionally followed by desc"}}}}
	if len(parts) > 2 {
		return Order{}, bad
	}
	o := Order{Field: parts[0]}
	switch o.Field {
	case "contact_time", "create_time", "update_time":
	default:
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
