package tagging

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/crmsuite/crm/pkg/validate"
)

// The tag expression language of segments:
//
//	expr    = or
//	or      = and { "OR" and }
//	and     = not { "AND" not }
//	not     = "NOT" not | primary
//	primary = "(" expr ")" | tagTerm | attrTerm
//	tagTerm = qualifier ":" value        qualifier: tag, level, industry, need, behavior, source, custom
//	attrTerm = field ( "=" | "!=" ) value field: level, owner_id, team_id, type, status, province
//	value   = bare word | "double-quoted string"  (\" and \\ escape inside quotes)
//
// Keywords and names are case-insensitive. `tag:X` matches a live tag of any category whose name
// (case and width ignored) or id is X; `need:X` only tags of that category.

// Kind is the kind of an expression node.
type Kind int

// Node kinds.
const (
	KindAnd  Kind = iota + 1 // every argument holds
	KindOr                   // some argument holds
	KindNot                  // the argument does not hold
	KindTag                  // the customer has a tag
	KindAttr                 // a customer attribute compares to a value
)

// Attr is a customer attribute an expression can compare.
type Attr string

// Attributes. Level is the tagging service's own; the others come from the customer projection.
const (
	AttrLevel    Attr = "level"
	AttrOwner    Attr = "owner_id"
	AttrTeam     Attr = "team_id"
	AttrType     Attr = "type"
	AttrStatus   Attr = "status"
	AttrProvince Attr = "province"
)

// TagRef names a tag in an expression: by name or id, in one category or (Category "") any.
type TagRef struct {
	Category Category
	// Value is the name or id as written (trimmed).
	Value string
}

// Key is the reference's value folded like tag names (NameKey).
func (r TagRef) Key() string { return NameKey(r.Value) }

// Condition is one attribute comparison; Value is canonical (level "", high, medium, low; type
// and status in the customer service's spelling; provinces in full).
type Condition struct {
	Field  Attr
	Negate bool // `!=`
	Value  string
}

// Expr is a node of a parsed expression. And and Or have two or more Args, Not exactly one; Tag
// and Attr are leaves.
type Expr struct {
	Kind Kind
	Args []*Expr
	Tag  TagRef
	Cond Condition
	// Pos is the 1-based character position of the term or operator in the source.
	Pos int
}

// String renders the expression canonically: every And and Or in parentheses, values quoted.
// Parsing the result gives the same expression.
func (e *Expr) String() string {
	var b strings.Builder
	e.write(&b)
	return b.String()
}

func (e *Expr) write(b *strings.Builder) {
	switch e.Kind {
	case KindAnd, KindOr:
		op := " AND "
		if e.Kind == KindOr {
			op = " OR "
		}
		b.WriteByte('(')
		for i, a := range e.Args {
			if i > 0 {
				b.WriteString(op)
			}
			a.write(b)
		}
		b.WriteByte(')')
	case KindNot:
		b.WriteString("NOT ")
		e.Args[0].write(b)
	case KindTag:
		q := "tag"
		if e.Tag.Category != "" {
			q = string(e.Tag.Category)
		}
		b.WriteString(q + ":" + quote(e.Tag.Value))
	case KindAttr:
		op := " = "
		if e.Cond.Negate {
			op = " != "
		}
		v := e.Cond.Value
		if e.Cond.Field == AttrLevel && v == "" {
			v = "none"
		}
		b.WriteString(string(e.Cond.Field) + op + quote(v))
	}
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Tags returns the tag terms of the expression in source order.
func (e *Expr) Tags() []*Expr {
	var out []*Expr
	var walk func(*Expr)
	walk = func(x *Expr) {
		if x.Kind == KindTag {
			out = append(out, x)
		}
		for _, a := range x.Args {
			walk(a)
		}
	}
	walk(e)
	return out
}

// ParseError is a syntax or value error in an expression, at a character position.
type ParseError struct {
	// Pos is the 1-based character position; one past the end for "unexpected end".
	Pos int
	// Reason is the violation reason: INVALID_FORMAT for syntax, UNKNOWN_CODE for unknown names
	// and values, TOO_LONG and OUT_OF_RANGE for limits.
	Reason string
	ZH, EN string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("expression at character %d: %s", e.Pos, e.EN)
}

// Message is the bilingual text of the error with its position.
func (e *ParseError) Message() validate.Message {
	return validate.Message{
		ZH: fmt.Sprintf("表达式第 %d 个字符处有误：%s", e.Pos, e.ZH),
		EN: fmt.Sprintf("expression error at character %d: %s", e.Pos, e.EN),
	}
}

func perr(pos int, reason, zh, en string) *ParseError {
	return &ParseError{Pos: pos, Reason: reason, ZH: zh, EN: en}
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokWord
	tokString
	tokLParen
	tokRParen
	tokColon
	tokEq
	tokNeq
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of expression"
	case tokString:
		return quote(t.text)
	}
	return t.text
}

// special runes end a bare word.
const special = `()":=!`

func lex(src []rune) ([]token, error) {
	var toks []token
	for i := 0; i < len(src); {
		c := src[i]
		pos := i + 1
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '(':
			toks = append(toks, token{tokLParen, "(", pos})
			i++
		case c == ')':
			toks = append(toks, token{tokRParen, ")", pos})
			i++
		case c == ':':
			toks = append(toks, token{tokColon, ":", pos})
			i++
		case c == '=':
			toks = append(toks, token{tokEq, "=", pos})
			i++
		case c == '!':
			if i+1 < len(src) && src[i+1] == '=' {
				toks = append(toks, token{tokNeq, "!=", pos})
				i += 2
				continue
			}
			return nil, perr(pos, validate.ReasonInvalidFormat, "“!” 只能用在 “!=” 中，取反请用 NOT", "“!” is only valid in “!=”; use NOT to negate")
		case c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(src) && src[j] != '"'; j++ {
				if src[j] == '\\' {
					if j+1 >= len(src) || (src[j+1] != '"' && src[j+1] != '\\') {
						return nil, perr(j+1, validate.ReasonInvalidFormat, `引号内只能用 \" 和 \\ 转义`, `only \" and \\ may be escaped inside quotes`)
					}
					j++
				}
				b.WriteRune(src[j])
			}
			if j >= len(src) {
				return nil, perr(pos, validate.ReasonInvalidFormat, "引号未闭合", "unterminated quoted string")
			}
			toks = append(toks, token{tokString, b.String(), pos})
			i = j + 1
		default:
			j := i
			for j < len(src) && !unicode.IsSpace(src[j]) && !strings.ContainsRune(special, src[j]) {
				j++
			}
			toks = append(toks, token{tokWord, string(src[i:j]), pos})
			i = j
		}
	}
	return append(toks, token{tokEOF, "", len(src) + 1}), nil
}

type parser struct {
	toks  []token
	i     int
	depth int
	terms int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func isKeyword(t token, kw string) bool { return t.kind == tokWord && strings.EqualFold(t.text, kw) }

// Parse parses a tag expression into its AST, checking names and attribute values. Errors are
// *ParseError with the position of the offending character.
func Parse(s string) (*Expr, error) {
	src := []rune(s)
	if len(src) > MaxExpressionLen {
		return nil, perr(MaxExpressionLen+1, validate.ReasonTooLong,
			fmt.Sprintf("表达式不能超过 %d 个字符", MaxExpressionLen), fmt.Sprintf("the expression must be at most %d characters", MaxExpressionLen))
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	if toks[0].kind == tokEOF {
		return nil, perr(1, validate.ReasonRequired, "表达式不能为空", "the expression is empty")
	}
	p := &parser{toks: toks}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		if t.kind == tokRParen {
			return nil, perr(t.pos, validate.ReasonInvalidFormat, "多余的右括号", "unmatched closing parenthesis")
		}
		return nil, perr(t.pos, validate.ReasonInvalidFormat, "此处应为 AND 或 OR，而不是 "+t.describe(), "expected AND or OR, got "+t.describe())
	}
	return e, nil
}

// nary parses one or more operands separated by the keyword kw into one flat node of kind k.
func (p *parser) nary(k Kind, kw string, operand func() (*Expr, error)) (*Expr, error) {
	first, err := operand()
	if err != nil {
		return nil, err
	}
	if !isKeyword(p.peek(), kw) {
		return first, nil
	}
	node := &Expr{Kind: k, Pos: p.peek().pos}
	node.add(first)
	for isKeyword(p.peek(), kw) {
		p.next()
		x, err := operand()
		if err != nil {
			return nil, err
		}
		node.add(x)
	}
	return node, nil
}

// add appends x, flattening a node of the same kind ((a AND b) AND c is a AND b AND c).
func (e *Expr) add(x *Expr) {
	if x.Kind == e.Kind {
		e.Args = append(e.Args, x.Args...)
		return
	}
	e.Args = append(e.Args, x)
}

func (p *parser) or() (*Expr, error)  { return p.nary(KindOr, "OR", p.and) }
func (p *parser) and() (*Expr, error) { return p.nary(KindAnd, "AND", p.not) }

func (p *parser) enter(pos int) error {
	p.depth++
	if p.depth > maxExpressionNested {
		return perr(pos, validate.ReasonOutOfRange, fmt.Sprintf("括号或 NOT 嵌套不能超过 %d 层", maxExpressionNested),
			fmt.Sprintf("parentheses and NOT may nest at most %d deep", maxExpressionNested))
	}
	return nil
}

func (p *parser) not() (*Expr, error) {
	t := p.peek()
	if !isKeyword(t, "NOT") {
		return p.primary()
	}
	p.next()
	if err := p.enter(t.pos); err != nil {
		return nil, err
	}
	x, err := p.not()
	p.depth--
	if err != nil {
		return nil, err
	}
	return &Expr{Kind: KindNot, Args: []*Expr{x}, Pos: t.pos}, nil
}

func (p *parser) primary() (*Expr, error) {
	t := p.next()
	switch {
	case t.kind == tokLParen:
		if err := p.enter(t.pos); err != nil {
			return nil, err
		}
		e, err := p.or()
		p.depth--
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tokRParen {
			return nil, perr(c.pos, validate.ReasonInvalidFormat, "缺少右括号（对应第 "+fmt.Sprint(t.pos)+" 个字符处的左括号），而不是 "+c.describe(),
				fmt.Sprintf("expected ) to close the ( at character %d, got %s", t.pos, c.describe()))
		}
		return e, nil
	case t.kind == tokWord && !isKeyword(t, "AND") && !isKeyword(t, "OR") && !isKeyword(t, "NOT"):
		p.terms++
		if p.terms > maxExpressionTerms {
			return nil, perr(t.pos, validate.ReasonOutOfRange, fmt.Sprintf("条件不能超过 %d 个", maxExpressionTerms),
				fmt.Sprintf("at most %d terms", maxExpressionTerms))
		}
		switch op := p.next(); op.kind {
		case tokColon:
			return p.tagTerm(t)
		case tokEq, tokNeq:
			return p.attrTerm(t, op)
		default:
			return nil, perr(op.pos, validate.ReasonInvalidFormat, "“"+t.text+"” 之后应为 “:”（标签）或 “=”、“!=”（属性），而不是 "+op.describe(),
				"expected “:” (tag) or “=”, “!=” (attribute) after “"+t.text+"”, got "+op.describe())
		}
	case t.kind == tokEOF:
		return nil, perr(t.pos, validate.ReasonInvalidFormat, "表达式不完整，此处缺少条件", "incomplete expression: a term is missing here")
	default:
		return nil, perr(t.pos, validate.ReasonInvalidFormat, "此处应为条件（如 tag:\"战略客户\" 或 level = high），而不是 "+t.describe(),
			`expected a term (e.g. tag:"战略客户" or level = high), got `+t.describe())
	}
}

// value reads the value of a term: a bare word or a quoted string.
func (p *parser) value() (token, error) {
	v := p.next()
	switch {
	case v.kind == tokWord && (isKeyword(v, "AND") || isKeyword(v, "OR") || isKeyword(v, "NOT")):
		return v, perr(v.pos, validate.ReasonInvalidFormat, "此处缺少取值，而是 "+v.text+"（作为取值时请加引号）",
			"expected a value, got "+v.text+" (quote it to use it as a value)")
	case v.kind != tokWord && v.kind != tokString:
		return v, perr(v.pos, validate.ReasonInvalidFormat, "此处缺少取值，而是 "+v.describe(), "expected a value, got "+v.describe())
	}
	return v, nil
}

var qualifiers = map[string]Category{
	"tag": "", "level": CategoryLevel, "industry": CategoryIndustry, "need": CategoryNeed,
	"behavior": CategoryBehavior, "behaviour": CategoryBehavior, "source": CategorySource, "custom": CategoryCustom,
}

func (p *parser) tagTerm(name token) (*Expr, error) {
	cat, ok := qualifiers[strings.ToLower(name.text)]
	if !ok {
		return nil, perr(name.pos, validate.ReasonUnknownCode,
			"未知的标签分类 “"+name.text+"”，可用 tag、level、industry、need、behavior、source、custom",
			"unknown tag category “"+name.text+"”: use tag, level, industry, need, behavior, source or custom")
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	val := strings.TrimSpace(v.text)
	switch {
	case val == "":
		return nil, perr(v.pos, validate.ReasonRequired, "标签名称不能为空", "the tag name is empty")
	case validate.RuneLen(val) > maxReferenceLen:
		return nil, perr(v.pos, validate.ReasonTooLong, "标签名称过长", "the tag name is too long")
	}
	return &Expr{Kind: KindTag, Tag: TagRef{Category: cat, Value: val}, Pos: name.pos}, nil
}

var attrs = map[string]Attr{
	"level": AttrLevel, "owner_id": AttrOwner, "team_id": AttrTeam, "type": AttrType, "status": AttrStatus, "province": AttrProvince,
}

func (p *parser) attrTerm(name, op token) (*Expr, error) {
	field, ok := attrs[strings.ToLower(name.text)]
	if !ok {
		return nil, perr(name.pos, validate.ReasonUnknownCode,
			"未知的属性 “"+name.text+"”，可用 level、owner_id、team_id、type、status、province",
			"unknown attribute “"+name.text+"”: use level, owner_id, team_id, type, status or province")
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	val, perrMsg := canonicalValue(field, strings.TrimSpace(v.text))
	if perrMsg != nil {
		return nil, perr(v.pos, validate.ReasonUnknownCode, perrMsg.ZH, perrMsg.EN)
	}
	return &Expr{Kind: KindAttr, Cond: Condition{Field: field, Negate: op.kind == tokNeq, Value: val}, Pos: name.pos}, nil
}

var levelWords = map[string]Level{
	"high": LevelHigh, "medium": LevelMedium, "low": LevelLow, "none": "",
	"高价值": LevelHigh, "中价值": LevelMedium, "低价值": LevelLow, "无": "",
}

// CustomerTypes and CustomerStatuses are the customer service's spellings of 客户类型 and 客户状态,
// as kept in the projection.
var (
	CustomerTypes    = []string{"enterprise", "individual", "institution", "partner", "channel", "other"}
	CustomerStatuses = []string{"potential", "intention", "active", "paused", "dormant", "lost"}
)

func canonicalValue(f Attr, v string) (string, *validate.Message) {
	switch f {
	case AttrLevel:
		if l, ok := levelWords[strings.ToLower(v)]; ok {
			return string(l), nil
		}
		return "", &validate.Message{ZH: "客户等级只能是 high、medium、low 或 none", EN: "level must be high, medium, low or none"}
	case AttrOwner, AttrTeam:
		if v == "" || validate.RuneLen(v) > maxReferenceLen {
			return "", &validate.Message{ZH: string(f) + " 的取值应为 1 到 64 个字符", EN: string(f) + " must be 1 to 64 characters"}
		}
		return v, nil
	case AttrType:
		return enumValue(v, "CUSTOMER_TYPE_", CustomerTypes, "客户类型", "type")
	case AttrStatus:
		return enumValue(v, "CUSTOMER_STATUS_", CustomerStatuses, "客户状态", "status")
	case AttrProvince:
		if p, ok := validate.Province(v); ok {
			return p, nil
		}
		return "", &validate.Message{ZH: "未知的省份 “" + v + "”", EN: "unknown province “" + v + "”"}
	}
	return "", &validate.Message{ZH: "未知的属性", EN: "unknown attribute"}
}

func enumValue(v, prefix string, all []string, labelZH, labelEN string) (string, *validate.Message) {
	u := strings.ToLower(v)
	if len(v) > len(prefix) && strings.EqualFold(v[:len(prefix)], prefix) {
		u = strings.ToLower(v[len(prefix):])
	}
	for _, x := range all {
		if x == u {
			return x, nil
		}
	}
	list := strings.Join(all, "、")
	return "", &validate.Message{ZH: labelZH + "只能是 " + list, EN: labelEN + " must be one of " + strings.Join(all, ", ")}
}
