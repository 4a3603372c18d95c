package customer

import (
	"strings"
	"time"
	"unicode"

	"github.com/crmsuite/crm/pkg/validate"
)

// Condition is one `field op value` term of a list filter. Value is canonical: enum values in the
// domain's spelling, provinces in full, times parsed.
type Condition struct {
	Field string
	Op    string
	Value string
	Time  time.Time
}

// filterFields maps filter fields to their kind.
var filterFields = map[string]string{
	"type": "enum", "status": "enum", "source": "enum", "scale": "enum",
	"industry": "text", "owner_id": "text", "team_id": "text", "province": "text", "city": "text",
	"create_time": "time", "update_time": "time",
}

// enumPrefixes are the API enum prefixes a filter value may carry (`CUSTOMER_TYPE_ENTERPRISE`).
var enumPrefixes = map[string]string{
	"type": "CUSTOMER_TYPE_", "status": "CUSTOMER_STATUS_", "source": "CUSTOMER_SOURCE_", "scale": "SCALE_",
}

// scaleNames maps the API's scale enum suffixes to the domain's bands.
var scaleNames = map[string]Scale{
	"1_TO_50": Scale1To50, "51_TO_200": Scale51To200, "201_TO_500": Scale201To500, "501_TO_1000": Scale501To1000,
	"OVER_1000": ScaleOver1000, "INDIVIDUAL_STANDARD": ScaleIndividualStd, "INDIVIDUAL_PREMIUM": ScaleIndividualPremium,
}

func filterError(msgZH, msgEN string) error {
	return &validate.Error{Violations: []validate.Violation{{Field: "filter", Reason: validate.ReasonInvalidFormat,
		Message: validate.Message{ZH: "筛选条件有误：" + msgZH, EN: "invalid filter: " + msgEN}}}}
}

// ParseFilter parses a list filter: terms `field op value` joined by AND (AIP-160 subset).
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
			if d, err2 := time.ParseInLocation(time.DateOnly, value, shanghai()); err2 == nil {
				t = d
			} else {
				return Condition{}, filterError(fieldName+" 的时间格式应为 RFC 3339 或 YYYY-MM-DD", fieldName+" must be an RFC 3339 time or YYYY-MM-DD")
			}
		}
		c.Time = t
	case "enum":
		v, ok := enumValue(fieldName, value)
		if !ok {
			return Condition{}, filterError(fieldName+" 的取值无效："+value, "unknown "+fieldName+" value "+value)
		}
		c.Value = v
	case "text":
		switch fieldName {
		case "province":
			if p, ok := validate.Province(value); ok {
				c.Value = p
			}
		case "industry":
			if ind, ok := validate.LookupIndustry(value); ok {
				c.Value = ind.Code
			} else {
				return Condition{}, filterError("行业代码无效："+value, "unknown industry code "+value)
			}
		}
	}
	return c, nil
}

func enumValue(fieldName, v string) (string, bool) {
	u := strings.TrimPrefix(strings.ToUpper(v), enumPrefixes[fieldName])
	switch fieldName {
	case "scale":
		if s, ok := scaleNames[u]; ok {
			return string(s), true
		}
		for _, s := range Scales {
			if string(s) == v {
				return v, true
			}
		}
		return "", false
	case "type":
		return matchEnum(u, Types)
	case "status":
		return matchEnum(u, Statuses)
	case "source":
		return matchEnum(u, Sources)
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
	Field string // create_time, update_time or name
	Desc  bool
}

// ParseOrder parses order_by: `create_time`, `update_time` or `name`, optionally followed by ` desc`
// or ` asc`. The default is create_time desc.
func ParseOrder(s string) (Order, error) {
	parts := strings.Fields(s)
	if len(parts) == 0 {
		return Order{Field: "create_time", Desc: true}, nil
	}
	bad := &validate.Error{Violations: []validate.Violation{{Field: "order_by", Reason: validate.ReasonInvalidFormat,
		Message: validate.Message{ZH: "排序只支持 create_time、update_time 或 name，可加 desc", EN: "order_by must be create_time, update_time or name, optionally followed by desc"}}}}
	if len(parts) > 2 {
		return Order{}, bad
	}
	o := Order{Field: parts[0]}
	switch o.Field {
	case "create_time", "update_time", "name":
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

// shanghai is the time zone of dates given without one (China Standard Time, no DST).
func shanghai() *time.Location { return time.FixedZone("CST", 8*3600) }
