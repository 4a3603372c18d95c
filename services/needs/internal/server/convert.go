package server

import (
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/crmsuite/crm/pkg/validate"
	needsv1 "github.com/crmsuite/crm/proto/gen/go/crm/needs/v1"
	"github.com/crmsuite/crm/services/needs/internal/need"
)

var typeToProto = map[need.Type]needsv1.NeedType{
	need.TypeProductInquiry: needsv1.NeedType_NEED_TYPE_PRODUCT_INQUIRY, need.TypeCustomService: needsv1.NeedType_NEED_TYPE_CUSTOM_SERVICE,
	need.TypePartnership: needsv1.NeedType_NEED_TYPE_PARTNERSHIP, need.TypeProcurement: needsv1.NeedType_NEED_TYPE_PROCUREMENT,
	need.TypeOther: needsv1.NeedType_NEED_TYPE_OTHER,
}

var stageToProto = map[need.Stage]needsv1.NeedStage{
	need.StageInitial: needsv1.NeedStage_NEED_STAGE_INITIAL, need.StageConfirmed: needsv1.NeedStage_NEED_STAGE_CONFIRMED,
	need.StageProposal: needsv1.NeedStage_NEED_STAGE_PROPOSAL, need.StageQuotation: needsv1.NeedStage_NEED_STAGE_QUOTATION,
	need.StageNegotiation: needsv1.NeedStage_NEED_STAGE_NEGOTIATION, need.StageWon: needsv1.NeedStage_NEED_STAGE_WON,
	need.StageLost: needsv1.NeedStage_NEED_STAGE_LOST,
}

func invert[K comparable, V comparable](m map[K]V) map[V]K {
	out := make(map[V]K, len(m))
	for k, v := range m {
		out[v] = k
	}
	return out
}

var (
	typeFromProto  = invert(typeToProto)
	stageFromProto = invert(stageToProto)
)

// toProto renders a need for the API and for events.
func toProto(n *need.Need) *needsv1.Need {
	p := &needsv1.Need{
		NeedId: n.ID, CustomerId: n.CustomerID, Title: n.Title, Type: typeToProto[n.Type], Description: n.Description,
		BudgetMin: toMoney(n.BudgetMinFen), BudgetMax: toMoney(n.BudgetMaxFen),
		ExpectedDeliveryDate: toDate(n.DeliveryDate), ExpectedCloseDate: toDate(n.CloseDate), ExpectedAmount: toMoney(n.AmountFen),
		Stage: stageToProto[n.Stage], LostReason: n.LostReason, Department: n.Department, OwnerId: n.OwnerID, TeamId: n.TeamID,
		Competitors: n.Competitors, StageChangeTime: ts(n.StageChangedAt), StageChangedBy: n.StageChangedBy,
		CreateTime: ts(n.CreatedAt), CreatedBy: n.CreatedBy, UpdateTime: ts(n.UpdatedAt), UpdatedBy: n.UpdatedBy,
		DeletedBy: n.DeletedBy, Etag: etag(n.Version),
	}
	if n.DeletedAt != nil {
		p.DeleteTime = ts(*n.DeletedAt)
	}
	return p
}

// yuanMoney renders fen as CNY Money; fen is never negative here.
func yuanMoney(fen int64) *money.Money {
	return &money.Money{CurrencyCode: "CNY", Units: fen / 100, Nanos: int32(fen%100) * 10_000_000}
}

func toMoney(fen *int64) *money.Money {
	if fen == nil {
		return nil
	}
	return yuanMoney(*fen)
}

func toDate(d *need.Date) *date.Date {
	if d == nil {
		return nil
	}
	return &date.Date{Year: int32(d.Year), Month: int32(d.Month), Day: int32(d.Day)}
}

func fromDate(d *date.Date) *need.Date {
	if d == nil {
		return nil
	}
	return &need.Date{Year: int(d.GetYear()), Month: time.Month(d.GetMonth()), Day: int(d.GetDay())}
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func etag(version int64) string { return strconv.FormatInt(version, 10) }

// parseEtag accepts the etag as returned, optionally quoted or weak (`W/"3"`); empty means none.
func parseEtag(field, s string) (int64, error) {
	s = strings.Trim(strings.TrimPrefix(strings.TrimSpace(s), "W/"), `"`)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, violation(field, validate.ReasonInvalidFormat, validate.Message{ZH: "etag 无效，请使用读取需求时返回的值", EN: "invalid etag: send the value returned when the need was read"})
	}
	return v, nil
}

// fromMoney converts an amount in CNY to fen, adding a violation for another currency, sub-fen
// precision or a value out of range.
func fromMoney(field string, m *money.Money, v *validate.Collector) *int64 {
	if m == nil {
		return nil
	}
	switch {
	case m.GetCurrencyCode() != "" && m.GetCurrencyCode() != "CNY":
		v.Add(field, validate.ReasonNotAllowed, validate.Message{ZH: "金额币种须为人民币（CNY）", EN: "currency must be CNY"})
	case m.GetNanos()%10_000_000 != 0 || m.GetNanos() <= -1_000_000_000 || m.GetNanos() >= 1_000_000_000 ||
		(m.GetUnits() > 0 && m.GetNanos() < 0) || (m.GetUnits() < 0 && m.GetNanos() > 0):
		v.Add(field, validate.ReasonInvalidFormat, validate.Message{ZH: "金额最多精确到分", EN: "amount must be a whole number of fen (0.01 CNY)"})
	case m.GetUnits() > 1<<50 || m.GetUnits() < -(1<<50):
		v.Add(field, validate.ReasonOutOfRange, validate.Message{ZH: "金额超出范围", EN: "amount out of range"})
	default:
		fen := m.GetUnits()*100 + int64(m.GetNanos()/10_000_000)
		return &fen
	}
	return nil
}

// fromProto converts API input into a need, collecting conversion errors (enum values out of range,
// money with the wrong currency or sub-fen precision) per field. Output-only fields are ignored.
func fromProto(p *needsv1.Need, v *validate.Collector) *need.Need {
	n := &need.Need{
		Title: p.GetTitle(), Description: p.GetDescription(), Department: p.GetDepartment(), OwnerID: p.GetOwnerId(),
		Competitors:  append([]string(nil), p.GetCompetitors()...),
		BudgetMinFen: fromMoney("budget_min", p.GetBudgetMin(), v), BudgetMaxFen: fromMoney("budget_max", p.GetBudgetMax(), v),
		AmountFen:    fromMoney("expected_amount", p.GetExpectedAmount(), v),
		DeliveryDate: fromDate(p.GetExpectedDeliveryDate()), CloseDate: fromDate(p.GetExpectedCloseDate()),
	}
	unknown := validate.Message{ZH: "取值无效", EN: "unknown value"}
	if p.GetType() != needsv1.NeedType_NEED_TYPE_UNSPECIFIED {
		if n.Type = typeFromProto[p.GetType()]; n.Type == "" {
			v.Add("type", validate.ReasonUnknownCode, unknown)
		}
	}
	if p.GetStage() != needsv1.NeedStage_NEED_STAGE_UNSPECIFIED {
		if n.Stage = stageFromProto[p.GetStage()]; n.Stage == "" {
			v.Add("stage", validate.ReasonUnknownCode, unknown)
		}
	}
	return n
}
