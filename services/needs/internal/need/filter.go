package need

import (
	"strings"
	"time"
	"unicode"

	"github.com/crmsuite/crm/pkg/validate"
)

// Condition is one `field op value` term of a list filter. Value is canonical: enum values in the
// domain's spelling, customer ids in capitals; Time and Date hold parsed times and dates.
type Condition struct {
	Field string
	Op    string
	Value string
	Time  time.Time
	Date  *Date
}

// filterFields maps filter fields to their kind.
var filterFields = map[string]string{
	"customer_id": "text", "owner_id": "text", "team_id": "text",
	"stage": "enum", "type": "enum",
	"expected_close_date": "date",
	"create_time":         "time", "update_time": "time",
}

// enumPrefixes are the API enum prefixes a filter value may carry (`NEED_STAGE_WON`).
var enumPrefixes = map[string]string{"stage": "NEED_STAGE_", "type": "NEED_TYPE_"}

func filterError(msgZH, msgEN string) error {
	return &validate.Error{Violations: []validate.Violation{{Field: "filter", Reason: validate.ReasonInvalidFormat,
		Message: validate.Message{ZH: "筛选条件有误：" + msgZH, EN: "invalid filter: " + msgEN}}}}
}

// maxTerms bounds a filter so that one request cannot build an unbounded query.
const maxTerms = 20

// ParseFilter parses a list filter: terms `field op value` joined by AND (a subset of AIP-160).
// Values may be quoted with double quotes. Unknown fields and operators are refused.
func ParseFilter(s string) ([]Condition, error) {
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
		c, err := condition(toks[i], toks[i+1], toks[i+2])
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		if len(out) > maxTerms {
			return nil, filterError("条件过多（最多20个）", "too many terms (at most 20)")
		}
		i += 3
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
		if kind != "time" && kind != "date" {
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
			d, err2 := time.ParseInLocation(time.DateOnly, value, China())
			if err2 != nil {
				return Condition{}, filterError(fieldName+" 的时间格式应为 RFC 3339 或 YYYY-MM-DD", fieldName+" must be an RFC 3339 time or YYYY-MM-DD")
			}
			t = d
		}
		c.Time = t
	case "date":
		d, err := time.Parse(time.DateOnly, value)
		if err != nil {
			return Condition{}, filterError(fieldName+" 的日期格式应为 YYYY-MM-DD", fieldName+" must be a date YYYY-MM-DD")
		}
		dd := DateOf(d)
		c.Date = &dd
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
	case "stage":
		return matchEnum(u, Stages)
	case "type":
		return matchEnum(u, Types)
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
	Field string // create_time, update_time or expected_close_date
	Desc  bool
}

// ParseOrder parses order_by: `create_time`, `update_time` or `expected_close_date`, optionally
// followed by ` desc` or ` asc`. The default is create_time desc.
func ParseOrder(s string) (Order, error) {
	parts := strings.Fields(s)
	if len(parts) == 0 {
		return Order{Field: "create_time", Desc: true}, nil
	}
	bad := &validate.Error{Violations: []validate.Violation{{Field: "order_by", Reason: validate.ReasonInvalidFormat,
		Message: validate.Message{ZH: "排序只支持 create_time、update_time 或 expected_close_date，可加 desc",
			EN: "order_by must be create_time, update_time or expected_close_date, optionally followed by desc"}}}}
	if len(parts) > 2 {
		return Order{}, bad
	}
	o := Order{Field: parts[0]}
	switch o.Field {
	case "create_time", "update_time", "expected_close_date":
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

// China is the time zone of dates given without one (China Standard Time, no DST since 1991).
func China() *time.Location { return time.FixedZone("CST", 8*3600) }
