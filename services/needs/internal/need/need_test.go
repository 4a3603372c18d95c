package need

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmsuite/crm/pkg/validate"
)

func fen(v int64) *int64 { return &v }

// valid returns a complete, valid need.
func valid() *Need {
	return &Need{
		CustomerID: "CUST-20261123-0001", Title: "ERP 系统升级", Type: TypeProcurement,
		Description: "替换现有进销存系统", BudgetMinFen: fen(50_000_00), BudgetMaxFen: fen(80_000_00),
		DeliveryDate: &Date{2027, 3, 31}, CloseDate: &Date{2026, 12, 31}, AmountFen: fen(72_000_00),
		Stage: StageInitial, Department: "华东销售部", OwnerID: "u-sales1", Competitors: []string{"用友", "金蝶"},
	}
}

func violations(err error) map[string]string {
	out := map[string]string{}
	var ve *validate.Error
	if errors.As(err, &ve) {
		for _, v := range ve.Violations {
			out[v.Field] = v.Reason
		}
	}
	return out
}

func TestValidateAcceptsCompleteNeed(t *testing.T) {
	t.Parallel()
	n := valid()
	n.Normalise()
	if err := n.Validate(); err != nil {
		t.Fatalf("valid need refused: %v", err)
	}
}

func TestValidateNamesEveryFailingField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(n *Need)
		want   map[string]string
	}{
		{"empty record", func(n *Need) { *n = Need{Stage: StageInitial} }, map[string]string{
			"title": "REQUIRED", "type": "REQUIRED", "owner_id": "REQUIRED"}},
		{"title of 101 runes", func(n *Need) { n.Title = strings.Repeat("需", 101) }, map[string]string{"title": "TOO_LONG"}},
		{"title of 100 runes is fine", func(n *Need) { n.Title = strings.Repeat("需", 100) }, map[string]string{}},
		{"unknown type", func(n *Need) { n.Type = "lease" }, map[string]string{"type": "UNKNOWN_CODE"}},
		{"description of 5001 runes", func(n *Need) { n.Description = strings.Repeat("述", 5001) }, map[string]string{"description": "TOO_LONG"}},
		{"description of 5000 runes is fine", func(n *Need) { n.Description = strings.Repeat("述", 5000) }, map[string]string{}},
		{"budget min above max", func(n *Need) { n.BudgetMinFen, n.BudgetMaxFen = fen(2), fen(1) }, map[string]string{"budget_min": "OUT_OF_RANGE"}},
		{"budget min equal to max is fine", func(n *Need) { n.BudgetMinFen, n.BudgetMaxFen = fen(5), fen(5) }, map[string]string{}},
		{"only a budget max is fine", func(n *Need) { n.BudgetMinFen = nil }, map[string]string{}},
		{"negative amounts", func(n *Need) { n.BudgetMinFen, n.BudgetMaxFen, n.AmountFen = fen(-1), fen(-1), fen(-1) }, map[string]string{
			"budget_min": "OUT_OF_RANGE", "budget_max": "OUT_OF_RANGE", "expected_amount": "OUT_OF_RANGE"}},
		{"amount over a trillion yuan", func(n *Need) { n.AmountFen = fen(maxAmountFen + 1) }, map[string]string{"expected_amount": "OUT_OF_RANGE"}},
		{"impossible dates", func(n *Need) { n.DeliveryDate, n.CloseDate = &Date{2026, 2, 30}, &Date{0, 1, 1} }, map[string]string{
			"expected_delivery_date": "INVALID_FORMAT", "expected_close_date": "INVALID_FORMAT"}},
		{"unknown stage", func(n *Need) { n.Stage = "signed" }, map[string]string{"stage": "UNKNOWN_CODE"}},
		{"lost without reason", func(n *Need) { n.Stage = StageLost }, map[string]string{"lost_reason": "REQUIRED"}},
		{"lost with reason is fine", func(n *Need) { n.Stage, n.LostReason = StageLost, "预算取消" }, map[string]string{}},
		{"department of 51 runes", func(n *Need) { n.Department = strings.Repeat("部", 51) }, map[string]string{"department": "TOO_LONG"}},
		{"owner id of 65 characters", func(n *Need) { n.OwnerID = strings.Repeat("u", 65) }, map[string]string{"owner_id": "TOO_LONG"}},
		{"21 competitors", func(n *Need) {
			n.Competitors = nil
			for i := range 21 {
				n.Competitors = append(n.Competitors, "竞品"+string(rune('A'+i)))
			}
		}, map[string]string{"competitors": "OUT_OF_RANGE"}},
		{"competitor of 51 runes", func(n *Need) { n.Competitors = []string{"用友", strings.Repeat("金", 51)} }, map[string]string{"competitors[1]": "TOO_LONG"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := valid()
			tt.change(n)
			n.Normalise()
			if got := violations(n.Validate()); !maps.Equal(got, tt.want) {
				t.Fatalf("violations = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNormaliseCleansCompetitors(t *testing.T) {
	t.Parallel()
	n := valid()
	n.Title = "  ERP 系统升级 "
	n.Competitors = []string{" 用友", "", "金蝶", "用友 ", "  "}
	n.Normalise()
	if n.Title != "ERP 系统升级" || !slices.Equal(n.Competitors, []string{"用友", "金蝶"}) {
		t.Fatalf("normalised: %q %q", n.Title, n.Competitors)
	}
}

func TestApplyMask(t *testing.T) {
	t.Parallel()
	patch := &Need{Title: "新标题", AmountFen: nil, OwnerID: "u-sales2", Stage: StageWon, Competitors: []string{"华为"}}
	tests := []struct {
		name         string
		paths        []string
		ownerAllowed bool
		want         map[string]string
		check        func(n *Need) bool
	}{
		{"title and cleared amount", []string{"title", "expected_amount", "competitors"}, false, map[string]string{}, func(n *Need) bool {
			return n.Title == "新标题" && n.AmountFen == nil && slices.Equal(n.Competitors, []string{"华为"}) && n.OwnerID == "u-sales1"
		}},
		{"empty mask", nil, true, map[string]string{"update_mask": "REQUIRED"}, nil},
		{"stage is not updatable", []string{"stage"}, true, map[string]string{"update_mask": "NOT_ALLOWED"}, nil},
		{"unknown field", []string{"colour"}, true, map[string]string{"update_mask": "NOT_ALLOWED"}, nil},
		{"output-only field", []string{"customer_id"}, true, map[string]string{"update_mask": "NOT_ALLOWED"}, nil},
		{"owner by a sales rep", []string{"owner_id"}, false, map[string]string{"owner_id": "NOT_ALLOWED"}, nil},
		{"owner by a manager", []string{"owner_id"}, true, map[string]string{}, func(n *Need) bool { return n.OwnerID == "u-sales2" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := valid()
			err := n.ApplyMask(patch, tt.paths, tt.ownerAllowed)
			if got := violations(err); !maps.Equal(got, tt.want) {
				t.Fatalf("violations = %v, want %v", got, tt.want)
			}
			if tt.check != nil && !tt.check(n) {
				t.Fatalf("need after mask: %+v", n)
			}
			if n.Stage != StageInitial {
				t.Fatal("ApplyMask changed the stage")
			}
		})
	}
}

func TestDiff(t *testing.T) {
	t.Parallel()
	before := valid()
	after := valid()
	after.AmountFen = fen(123_456)
	after.Competitors = []string{"用友"}
	after.CloseDate = nil
	got := Diff(before, after)
	want := []Change{
		{"expected_close_date", "2026-12-31", nil},
		{"expected_amount", "72000.00", "1234.56"},
		{"competitors", []string{"用友", "金蝶"}, []string{"用友"}},
	}
	if len(got) != len(want) {
		t.Fatalf("diff = %v", got)
	}
	for i := range want {
		if got[i].Field != want[i].Field || fmtAny(got[i].Before) != fmtAny(want[i].Before) || fmtAny(got[i].After) != fmtAny(want[i].After) {
			t.Errorf("change %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if created := Diff(nil, before); len(created) < 10 {
		t.Fatalf("create diff lists %d fields", len(created))
	}
	if len(Diff(before, valid())) != 0 {
		t.Fatal("equal needs differ")
	}
}

func fmtAny(v any) string {
	switch x := v.(type) {
	case nil:
		return "<nil>"
	case string:
		return x
	case []string:
		return strings.Join(x, "|")
	}
	return "?"
}

func TestFormatYuan(t *testing.T) {
	t.Parallel()
	for fen, want := range map[int64]string{0: "0.00", 5: "0.05", 123456: "1234.56", -250: "-2.50", -9223372036854775808: "-92233720368547758.08"} {
		if got := FormatYuan(fen); got != want {
			t.Errorf("FormatYuan(%d) = %q, want %q", fen, got, want)
		}
	}
}

func TestDateValid(t *testing.T) {
	t.Parallel()
	for d, want := range map[Date]bool{{2028, 2, 29}: true, {2026, 2, 29}: false, {2026, 13, 1}: false, {1899, 12, 31}: false, {9999, 12, 31}: true} {
		if got := d.Valid(); got != want {
			t.Errorf("%v.Valid() = %v", d, got)
		}
	}
	if DateOf(time.Date(2026, 5, 4, 23, 0, 0, 0, time.UTC)) != (Date{2026, 5, 4}) {
		t.Fatal("DateOf")
	}
}
