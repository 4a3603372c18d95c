package need

import (
	"fmt"
	"slices"
	"strings"

	"github.com/crmsuite/crm/pkg/validate"
)

// Character and count limits (runes) from the specification, and generous ones where it is silent.
const (
	maxTitle       = 100
	maxDescription = 5000
	maxDepartment  = 50
	maxCompetitor  = 50
	maxCompetitors = 20
	maxUserID      = 64
	maxReason      = 200
	// maxAmountFen caps amounts at one trillion yuan: larger values are typing errors.
	maxAmountFen = 100_000_000_000_000
)

// Normalise trims the text fields and cleans the competitor list: blanks and repeats are dropped,
// the first spelling kept. Values that are still wrong are left for Validate to report.
func (n *Need) Normalise() {
	for _, p := range []*string{&n.CustomerID, &n.Title, &n.Description, &n.Department, &n.OwnerID, &n.LostReason} {
		*p = strings.TrimSpace(*p)
	}
	var comps []string
	for _, c := range n.Competitors {
		c = strings.TrimSpace(c)
		if c != "" && !slices.Contains(comps, c) {
			comps = append(comps, c)
		}
	}
	n.Competitors = comps
}

// Validate checks every field and cross-field rule and returns a *validate.Error naming each failing
// field, or nil.
func (n *Need) Validate() error {
	var v validate.Collector

	switch {
	case n.Title == "":
		v.Add("title", validate.ReasonRequired, validate.RequiredMessage("需求标题", "Title"))
	case validate.RuneLen(n.Title) > maxTitle:
		v.Add("title", validate.ReasonTooLong, validate.TooLongMessage("需求标题", "Title", maxTitle))
	}

	switch {
	case n.Type == "":
		v.Add("type", validate.ReasonRequired, validate.RequiredMessage("需求类型", "Type"))
	case !slices.Contains(Types, n.Type):
		v.Add("type", validate.ReasonUnknownCode, validate.Message{ZH: "需求类型无效", EN: "unknown need type"})
	}

	if validate.RuneLen(n.Description) > maxDescription {
		v.Add("description", validate.ReasonTooLong, validate.TooLongMessage("需求描述", "Description", maxDescription))
	}

	amountOK := func(field, zh, en string, fen *int64) bool {
		if fen != nil && (*fen < 0 || *fen > maxAmountFen) {
			v.Add(field, validate.ReasonOutOfRange, validate.Message{ZH: zh + "须在 0 到 1 万亿元之间", EN: en + " must be between 0 and 1 trillion CNY"})
			return false
		}
		return true
	}
	minOK := amountOK("budget_min", "预算下限", "budget_min", n.BudgetMinFen)
	maxOK := amountOK("budget_max", "预算上限", "budget_max", n.BudgetMaxFen)
	if minOK && maxOK && n.BudgetMinFen != nil && n.BudgetMaxFen != nil && *n.BudgetMinFen > *n.BudgetMaxFen {
		v.Add("budget_min", validate.ReasonOutOfRange, validate.Message{
			ZH: "预算下限不能高于预算上限", EN: "budget_min must not be greater than budget_max"})
	}
	amountOK("expected_amount", "预计成交金额", "expected_amount", n.AmountFen)

	for _, d := range []struct {
		field, zh, en string
		date          *Date
	}{
		{"expected_delivery_date", "期望交付日期", "expected delivery date", n.DeliveryDate},
		{"expected_close_date", "预计成交日期", "expected close date", n.CloseDate},
	} {
		if d.date != nil && !d.date.Valid() {
			v.Add(d.field, validate.ReasonInvalidFormat, validate.Message{ZH: d.zh + "不是有效日期", EN: d.en + " is not a valid date"})
		}
	}

	switch {
	case !n.Stage.Valid():
		v.Add("stage", validate.ReasonUnknownCode, validate.Message{ZH: "商机阶段无效", EN: "unknown stage"})
	case n.Stage == StageLost && n.LostReason == "":
		v.Add("lost_reason", validate.ReasonRequired, validate.RequiredMessage("流失原因", "Lost reason"))
	}
	if validate.RuneLen(n.LostReason) > maxReason {
		v.Add("lost_reason", validate.ReasonTooLong, validate.TooLongMessage("流失原因", "Lost reason", maxReason))
	}

	if validate.RuneLen(n.Department) > maxDepartment {
		v.Add("department", validate.ReasonTooLong, validate.TooLongMessage("负责部门", "Department", maxDepartment))
	}
	switch {
	case n.OwnerID == "":
		v.Add("owner_id", validate.ReasonRequired, validate.RequiredMessage("负责人", "Owner"))
	case validate.RuneLen(n.OwnerID) > maxUserID:
		v.Add("owner_id", validate.ReasonTooLong, validate.TooLongMessage("负责人", "Owner", maxUserID))
	}

	if len(n.Competitors) > maxCompetitors {
		v.Add("competitors", validate.ReasonOutOfRange, validate.Message{
			ZH: fmt.Sprintf("竞争对手最多 %d 个", maxCompetitors), EN: fmt.Sprintf("at most %d competitors", maxCompetitors)})
	}
	for i, c := range n.Competitors {
		if validate.RuneLen(c) > maxCompetitor {
			v.Add(fmt.Sprintf("competitors[%d]", i), validate.ReasonTooLong, validate.TooLongMessage("竞争对手", "Competitor", maxCompetitor))
		}
	}
	return v.Err()
}

// ValidateReason checks a free-text reason (stage change, reopen); required says whether it may be empty.
func ValidateReason(field, reason string, required bool) error {
	var v validate.Collector
	switch {
	case required && strings.TrimSpace(reason) == "":
		v.Add(field, validate.ReasonRequired, validate.RequiredMessage("原因", "Reason"))
	case validate.RuneLen(reason) > maxReason:
		v.Add(field, validate.ReasonTooLong, validate.TooLongMessage("原因", "Reason", maxReason))
	}
	return v.Err()
}
