package tagging

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crmsuite/crm/pkg/validate"
)

func fields(err error) map[string]string {
	out := map[string]string{}
	var ve *validate.Error
	if errors.As(err, &ve) {
		for _, v := range ve.Violations {
			out[v.Field] = v.Reason
		}
	}
	return out
}

func TestNameKeyIgnoresCaseWidthAndSpaces(t *testing.T) {
	t.Parallel()
	cases := []struct{ a, b string }{
		{"VIP客户", "vip客户"},
		{"ＶＩＰ客户", "VIP客户"},
		{" 价格  敏感 ", "价格 敏感"},
		{"Ａ１", "a1"},
	}
	for _, c := range cases {
		if NameKey(c.a) != NameKey(c.b) {
			t.Errorf("NameKey(%q) = %q, NameKey(%q) = %q", c.a, NameKey(c.a), c.b, NameKey(c.b))
		}
	}
	if NameKey("价格敏感") == NameKey("价格 敏感") {
		t.Error("inner spaces are significant")
	}
}

func TestTagValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		tag  Tag
		want map[string]string
	}{
		{"valid need tag", Tag{Category: CategoryNeed, Name: "系统集成", Color: "#ff8800"}, map[string]string{}},
		{"valid level tag", Tag{Category: CategoryLevel, Name: "高价值", LevelValue: "HIGH"}, map[string]string{}},
		{"no category", Tag{Name: "x"}, map[string]string{"category": validate.ReasonRequired}},
		{"no name", Tag{Category: CategoryNeed, Name: "  "}, map[string]string{"name": validate.ReasonRequired}},
		{"name of 21 characters", Tag{Category: CategoryNeed, Name: strings.Repeat("标", 21)}, map[string]string{"name": validate.ReasonTooLong}},
		{"name of 20 characters", Tag{Category: CategoryNeed, Name: strings.Repeat("标", 20)}, map[string]string{}},
		{"control character", Tag{Category: CategoryNeed, Name: "a\u0007b"}, map[string]string{"name": validate.ReasonInvalidFormat}},
		{"long description", Tag{Category: CategoryNeed, Name: "x", Description: strings.Repeat("说", 201)}, map[string]string{"description": validate.ReasonTooLong}},
		{"bad colour", Tag{Category: CategoryNeed, Name: "x", Color: "red"}, map[string]string{"color": validate.ReasonInvalidFormat}},
		{"short colour", Tag{Category: CategoryNeed, Name: "x", Color: "#FFF"}, map[string]string{"color": validate.ReasonInvalidFormat}},
		{"level tag without level", Tag{Category: CategoryLevel, Name: "x"}, map[string]string{"level_value": validate.ReasonRequired}},
		{"level tag with unknown level", Tag{Category: CategoryLevel, Name: "x", LevelValue: "gold"}, map[string]string{"level_value": validate.ReasonUnknownCode}},
		{"level value on another category", Tag{Category: CategorySource, Name: "x", LevelValue: "high"}, map[string]string{"level_value": validate.ReasonNotAllowed}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tag := c.tag
			tag.Normalise()
			got := fields(tag.Validate())
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("violations = %v, want %v", got, c.want)
			}
		})
	}
	tag := Tag{Category: CategoryLevel, Name: " 高 价值 ", Color: "#aabbcc", LevelValue: " High "}
	tag.Normalise()
	if tag.Name != "高 价值" || tag.Color != "#AABBCC" || tag.LevelValue != LevelHigh {
		t.Fatalf("normalised = %+v", tag)
	}
}

func assignment(id string, c Category, level Level) *Assignment {
	return &Assignment{CustomerID: "CUST-1", Tag: &Tag{ID: id, Category: c, Name: id, LevelValue: level}}
}

func TestPlanAssign(t *testing.T) {
	t.Parallel()
	high := &Tag{ID: "T-high", Category: CategoryLevel, LevelValue: LevelHigh}
	need := &Tag{ID: "T-need", Category: CategoryNeed}
	many := make([]*Assignment, MaxTagsPerCustomer)
	for i := range many {
		many[i] = assignment(fmt.Sprint("T-", i), CategoryCustom, "")
	}
	cases := []struct {
		name     string
		current  []*Assignment
		tag      *Tag
		existing string
		replace  []string
		err      error
	}{
		{"first tag", nil, need, "", nil, nil},
		{"same tag again is a no-op", []*Assignment{assignment("T-need", CategoryNeed, "")}, need, "T-need", nil, nil},
		{"tags of other categories are multi-valued", []*Assignment{assignment("T-other", CategoryNeed, "")}, need, "", nil, nil},
		{"a level tag replaces the previous one", []*Assignment{assignment("T-low", CategoryLevel, LevelLow), assignment("T-need", CategoryNeed, "")}, high, "", []string{"T-low"}, nil},
		{"the same level tag again is a no-op", []*Assignment{assignment("T-high", CategoryLevel, LevelHigh)}, high, "T-high", nil, nil},
		{"a non-level tag keeps the level", []*Assignment{assignment("T-low", CategoryLevel, LevelLow)}, need, "", nil, nil},
		{"too many tags", many, need, "", nil, ErrTooManyTags},
		{"replacing keeps the count", append([]*Assignment{assignment("T-low", CategoryLevel, LevelLow)}, many[1:]...), high, "", []string{"T-low"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			plan, err := PlanAssign(c.current, c.tag)
			if !errors.Is(err, c.err) {
				t.Fatalf("err = %v, want %v", err, c.err)
			}
			existing := ""
			if plan.Existing != nil {
				existing = plan.Existing.Tag.ID
			}
			var replace []string
			for _, a := range plan.Replace {
				replace = append(replace, a.Tag.ID)
			}
			if existing != c.existing || fmt.Sprint(replace) != fmt.Sprint(c.replace) {
				t.Fatalf("plan = existing %q replace %v, want %q %v", existing, replace, c.existing, c.replace)
			}
		})
	}
}

func TestLevelOf(t *testing.T) {
	t.Parallel()
	if l := LevelOf(nil); l != "" {
		t.Fatalf("no tags: %q", l)
	}
	if l := LevelOf([]*Assignment{assignment("a", CategoryNeed, ""), assignment("b", CategoryLevel, LevelMedium)}); l != LevelMedium {
		t.Fatalf("level = %q", l)
	}
}

func TestTagApplyMaskAndDiff(t *testing.T) {
	t.Parallel()
	now := time.Now()
	before := &Tag{ID: "T1", Category: CategoryNeed, Name: "系统集成", Color: "#000000"}
	after := *before
	patch := &Tag{Name: "系统 集成", Description: "需要集成", Category: CategorySource, Color: "#FFFFFF"}
	if err := after.ApplyMask(patch, []string{"name", "description"}); err != nil {
		t.Fatal(err)
	}
	if after.Category != CategoryNeed || after.Color != "#000000" || after.Name != "系统 集成" {
		t.Fatalf("applied = %+v", after)
	}
	changes := DiffTag(before, &after)
	if len(changes) != 2 || changes[0].Field != "name" || changes[1].Field != "description" || changes[1].Before != nil {
		t.Fatalf("changes = %+v", changes)
	}
	for _, paths := range [][]string{{"category"}, {"level_value"}, {"tag_id"}, nil} {
		if err := after.ApplyMask(patch, paths); fields(err)["update_mask"] == "" {
			t.Errorf("mask %v accepted", paths)
		}
	}
	after.DeletedAt = &now
	if ch := DiffTag(before, &after); ch[len(ch)-1].Field != "delete_time" {
		t.Fatalf("delete not in diff: %+v", ch)
	}
	if created := DiffTag(nil, before); len(created) != 3 {
		t.Fatalf("create diff = %+v", created)
	}
}

func TestSegmentValidate(t *testing.T) {
	t.Parallel()
	s := Segment{Name: " 高价值 集成客户 ", Expression: ` level = high AND need:"系统集成" `}
	s.Normalise()
	e, err := s.Validate()
	if err != nil || e.String() != `(level = "high" AND need:"系统集成")` || s.Name != "高价值 集成客户" {
		t.Fatalf("valid segment: %v %v %+v", e, err, s)
	}
	bad := Segment{Name: strings.Repeat("名", 31), Expression: `level = high AND`}
	_, err = bad.Validate()
	got := fields(err)
	if got["name"] != validate.ReasonTooLong || got["expression"] != validate.ReasonInvalidFormat {
		t.Fatalf("violations = %v", got)
	}
	var ve *validate.Error
	errors.As(err, &ve)
	for _, v := range ve.Violations {
		if v.Field == "expression" && !strings.Contains(v.Message.ZH, "第 17 个字符") {
			t.Fatalf("expression message = %q", v.Message.ZH)
		}
	}
	seg := Segment{Name: "a", Expression: "tag:a"}
	if err := seg.ApplyMask(&Segment{Expression: "tag:b"}, []string{"expression"}); err != nil || seg.Expression != "tag:b" {
		t.Fatalf("mask: %v %+v", err, seg)
	}
}
