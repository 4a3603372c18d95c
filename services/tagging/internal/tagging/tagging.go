// Package tagging is the domain of customer tags and segments (客户分类与标签): tag definitions
// and their categories, the single-valued level category, what assigning a tag does to a
// customer's tags, saved segments, and the tag expression language segments are written in
// (parsed here into an AST; the store compiles it to SQL).
//
// It is pure Go: no database, gRPC or NATS imports. The store persists these types and the server
// maps them to and from the API.
package tagging

import (
	"errors"
	"regexp"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/crmsuite/crm/pkg/validate"
)

// Category is a tag's category (标签分类).
type Category string

// Tag categories, in display order.
const (
	CategoryLevel    Category = "level"
	CategoryIndustry Category = "industry"
	CategoryNeed     Category = "need"
	CategoryBehavior Category = "behavior"
	CategorySource   Category = "source"
	CategoryCustom   Category = "custom"
)

// Categories lists every category in display order.
var Categories = []Category{CategoryLevel, CategoryIndustry, CategoryNeed, CategoryBehavior, CategorySource, CategoryCustom}

// Rank is the category's place in display order (1 for level); 0 for an unknown category.
func (c Category) Rank() int {
	for i, x := range Categories {
		if x == c {
			return i + 1
		}
	}
	return 0
}

// Valid reports whether c is a known category.
func (c Category) Valid() bool { return c.Rank() > 0 }

// Level is a customer's level (客户等级); the empty level means "not graded".
type Level string

// Levels.
const (
	LevelHigh   Level = "high"
	LevelMedium Level = "medium"
	LevelLow    Level = "low"
)

// Levels lists every level, highest first.
var Levels = []Level{LevelHigh, LevelMedium, LevelLow}

func (l Level) valid() bool { return l == LevelHigh || l == LevelMedium || l == LevelLow }

// Tag is one tag definition.
type Tag struct {
	ID          string
	Category    Category
	Name        string
	Description string
	// Color is `#RRGGBB` or empty.
	Color string
	// LevelValue is the level a tag of the level category stands for; empty for other categories.
	LevelValue Level

	CreatedAt time.Time
	CreatedBy string
	UpdatedAt time.Time
	UpdatedBy string
	DeletedAt *time.Time
	DeletedBy string
	// Version counts the changes of the tag; it is the etag.
	Version int64
}

// Deleted reports whether the tag is soft-deleted.
func (t *Tag) Deleted() bool { return t.DeletedAt != nil }

// NameKey is the name as compared for uniqueness.
func (t *Tag) NameKey() string { return NameKey(t.Name) }

// Limits of the fields, in characters.
const (
	MaxTagNameLen       = 20
	MaxSegmentNameLen   = 30
	MaxDescriptionLen   = 200
	MaxExpressionLen    = 1000
	MaxTagsPerCustomer  = 100
	maxReferenceLen     = 64
	maxExpressionTerms  = 50
	maxExpressionNested = 20
)

// NameKey folds a tag or segment name for uniqueness checks: NFKC (full-width letters and digits
// become half-width), lower case, runs of white space collapsed to one space, trimmed.
func NameKey(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(norm.NFKC.String(s))), " ")
}

// cleanName trims a one-line name and collapses its runs of white space.
func cleanName(s string) string { return strings.Join(strings.Fields(s), " ") }

var colorPattern = regexp.MustCompile(`^#[0-9A-F]{6}$`)

// Normalise trims the text fields and upper-cases the colour.
func (t *Tag) Normalise() {
	t.Name = cleanName(t.Name)
	t.Description = strings.TrimSpace(t.Description)
	t.Color = strings.ToUpper(strings.TrimSpace(t.Color))
	t.LevelValue = Level(strings.ToLower(strings.TrimSpace(string(t.LevelValue))))
}

// Validate checks a normalised tag: category known, name present and short, description short,
// colour `#RRGGBB`, level value present (and only) for level tags.
func (t *Tag) Validate() error {
	var v validate.Collector
	if !t.Category.Valid() {
		v.Add("category", validate.ReasonRequired, validate.RequiredMessage("标签分类", "Category"))
	}
	checkName(&v, "name", t.Name, MaxTagNameLen, "标签名称", "Tag name")
	if validate.RuneLen(t.Description) > MaxDescriptionLen {
		v.Add("description", validate.ReasonTooLong, validate.TooLongMessage("说明", "Description", MaxDescriptionLen))
	}
	if t.Color != "" && !colorPattern.MatchString(t.Color) {
		v.Add("color", validate.ReasonInvalidFormat, validate.Message{ZH: "颜色格式应为 #RRGGBB，如 #FF8800", EN: "color must look like #RRGGBB, e.g. #FF8800"})
	}
	switch {
	case t.Category == CategoryLevel && t.LevelValue == "":
		v.Add("level_value", validate.ReasonRequired, validate.Message{ZH: "客户等级标签须指定等级（high、medium 或 low）", EN: "a level tag needs a level_value: high, medium or low"})
	case t.Category == CategoryLevel && !t.LevelValue.valid():
		v.Add("level_value", validate.ReasonUnknownCode, validate.Message{ZH: "等级只能是 high、medium 或 low", EN: "level_value must be high, medium or low"})
	case t.Category != CategoryLevel && t.LevelValue != "":
		v.Add("level_value", validate.ReasonNotAllowed, validate.Message{ZH: "只有客户等级标签可以指定等级", EN: "only level tags have a level_value"})
	}
	return v.Err()
}

func checkName(v *validate.Collector, field, name string, limit int, labelZH, labelEN string) {
	switch {
	case name == "":
		v.Add(field, validate.ReasonRequired, validate.RequiredMessage(labelZH, labelEN))
	case validate.RuneLen(name) > limit:
		v.Add(field, validate.ReasonTooLong, validate.TooLongMessage(labelZH, labelEN, limit))
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		v.Add(field, validate.ReasonInvalidFormat, validate.Message{ZH: labelZH + "不能包含控制字符", EN: labelEN + " must not contain control characters"})
	}
}

// Assignment is one tag on one customer.
type Assignment struct {
	CustomerID string
	Tag        *Tag
	AssignedAt time.Time
	AssignedBy string
}

// HistoryEntry is one assignment or removal of a tag on a customer (标签变更记录).
type HistoryEntry struct {
	ID         int64
	CustomerID string
	TagID      string
	// TagName is the tag's name at the time.
	TagName  string
	Category Category
	// Action is "assigned" or "removed".
	Action string
	// Reason is "" for a plain assign or remove, "replaced" (by another level tag) or
	// "tag_deleted" (the definition was deleted).
	Reason    string
	At        time.Time
	ActorID   string
	ActorRole string
	ActorTeam string
}

// Errors the store and the domain return; the server maps them to API errors.
var (
	ErrTagNotFound        = errors.New("tag not found")
	ErrSegmentNotFound    = errors.New("segment not found")
	ErrCustomerNotFound   = errors.New("customer not found")
	ErrCustomerDeleted    = errors.New("customer is deleted or merged")
	ErrAssignmentNotFound = errors.New("customer does not have this tag")
	ErrStaleEtag          = errors.New("changed by someone else")
	ErrRequestUsed        = errors.New("request id was used for a different request")
	ErrTagNameTaken       = errors.New("a live tag of this category has this name")
	ErrLevelTaken         = errors.New("a live level tag stands for this level")
	ErrSegmentNameTaken   = errors.New("a live segment has this name")
	ErrTooManyTags        = errors.New("customer has too many tags")
	ErrNotSegmentOwner    = errors.New("segment belongs to someone else")
)

// AssignPlan is what assigning a tag to a customer does.
type AssignPlan struct {
	// Existing is the customer's assignment of the tag when it already has it: nothing changes.
	Existing *Assignment
	// Replace lists the assignments the new one replaces (the previous level tag).
	Replace []*Assignment
}

// PlanAssign decides what assigning t to a customer with the current assignments does: nothing
// when the customer has t already; otherwise add t, replacing the customer's level tag when t is
// a level tag (the level category is single-valued). A customer at MaxTagsPerCustomer gets
// ErrTooManyTags.
func PlanAssign(current []*Assignment, t *Tag) (AssignPlan, error) {
	var plan AssignPlan
	for _, a := range current {
		if a.Tag.ID == t.ID {
			return AssignPlan{Existing: a}, nil
		}
		if t.Category == CategoryLevel && a.Tag.Category == CategoryLevel {
			plan.Replace = append(plan.Replace, a)
		}
	}
	if len(current)-len(plan.Replace)+1 > MaxTagsPerCustomer {
		return AssignPlan{}, ErrTooManyTags
	}
	return plan, nil
}

// LevelOf returns the level a customer's assignments give it: the level value of its level tag,
// or "" without one.
func LevelOf(assignments []*Assignment) Level {
	for _, a := range assignments {
		if a.Tag.Category == CategoryLevel {
			return a.Tag.LevelValue
		}
	}
	return ""
}

// Segment is a saved tag expression (客户分群).
type Segment struct {
	ID          string
	Name        string
	Description string
	Expression  string

	CreatedAt time.Time
	CreatedBy string
	UpdatedAt time.Time
	UpdatedBy string
	DeletedAt *time.Time
	DeletedBy string
	Version   int64
}

// NameKey is the name as compared for uniqueness.
func (s *Segment) NameKey() string { return NameKey(s.Name) }

// Normalise trims the text fields.
func (s *Segment) Normalise() {
	s.Name = cleanName(s.Name)
	s.Description = strings.TrimSpace(s.Description)
	s.Expression = strings.TrimSpace(s.Expression)
}

// Validate checks a normalised segment and parses its expression; it returns the parsed
// expression so that the caller can resolve the tags it names.
func (s *Segment) Validate() (*Expr, error) {
	var v validate.Collector
	checkName(&v, "name", s.Name, MaxSegmentNameLen, "分群名称", "Segment name")
	if validate.RuneLen(s.Description) > MaxDescriptionLen {
		v.Add("description", validate.ReasonTooLong, validate.TooLongMessage("说明", "Description", MaxDescriptionLen))
	}
	e, err := Parse(s.Expression)
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) {
			return nil, err
		}
		v.Add("expression", pe.Reason, pe.Message())
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return e, nil
}
