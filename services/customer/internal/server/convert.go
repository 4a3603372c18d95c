package server

import (
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/crmsuite/crm/pkg/validate"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	"github.com/crmsuite/crm/services/customer/internal/customer"
)

var typeToProto = map[customer.Type]customerv1.CustomerType{
	customer.TypeEnterprise: customerv1.CustomerType_CUSTOMER_TYPE_ENTERPRISE, customer.TypeIndividual: customerv1.CustomerType_CUSTOMER_TYPE_INDIVIDUAL,
	customer.TypeInstitution: customerv1.CustomerType_CUSTOMER_TYPE_INSTITUTION, customer.TypePartner: customerv1.CustomerType_CUSTOMER_TYPE_PARTNER,
	customer.TypeChannel: customerv1.CustomerType_CUSTOMER_TYPE_CHANNEL, customer.TypeOther: customerv1.CustomerType_CUSTOMER_TYPE_OTHER,
}

var scaleToProto = map[customer.Scale]customerv1.Scale{
	customer.Scale1To50: customerv1.Scale_SCALE_1_TO_50, customer.Scale51To200: customerv1.Scale_SCALE_51_TO_200,
	customer.Scale201To500: customerv1.Scale_SCALE_201_TO_500, customer.Scale501To1000: customerv1.Scale_SCALE_501_TO_1000,
	customer.ScaleOver1000: customerv1.Scale_SCALE_OVER_1000, customer.ScaleIndividualStd: customerv1.Scale_SCALE_INDIVIDUAL_STANDARD,
	customer.ScaleIndividualPremium: customerv1.Scale_SCALE_INDIVIDUAL_PREMIUM,
}

var statusToProto = map[customer.Status]customerv1.CustomerStatus{
	customer.StatusPotential: customerv1.CustomerStatus_CUSTOMER_STATUS_POTENTIAL, customer.StatusIntention: customerv1.CustomerStatus_CUSTOMER_STATUS_INTENTION,
	customer.StatusActive: customerv1.CustomerStatus_CUSTOMER_STATUS_ACTIVE, customer.StatusPaused: customerv1.CustomerStatus_CUSTOMER_STATUS_PAUSED,
	customer.StatusDormant: customerv1.CustomerStatus_CUSTOMER_STATUS_DORMANT, customer.StatusLost: customerv1.CustomerStatus_CUSTOMER_STATUS_LOST,
}

var sourceToProto = map[customer.Source]customerv1.CustomerSource{
	customer.SourceOnline: customerv1.CustomerSource_CUSTOMER_SOURCE_ONLINE, customer.SourceExhibition: customerv1.CustomerSource_CUSTOMER_SOURCE_EXHIBITION,
	customer.SourceReferral: customerv1.CustomerSource_CUSTOMER_SOURCE_REFERRAL, customer.SourceVisit: customerv1.CustomerSource_CUSTOMER_SOURCE_VISIT,
	customer.SourcePartner: customerv1.CustomerSource_CUSTOMER_SOURCE_PARTNER, customer.SourceInbound: customerv1.CustomerSource_CUSTOMER_SOURCE_INBOUND,
	customer.SourceOther: customerv1.CustomerSource_CUSTOMER_SOURCE_OTHER,
}

func invert[K comparable, V comparable](m map[K]V) map[V]K {
	out := make(map[V]K, len(m))
	for k, v := range m {
		out[v] = k
	}
	return out
}

var (
	typeFromProto   = invert(typeToProto)
	scaleFromProto  = invert(scaleToProto)
	statusFromProto = invert(statusToProto)
	sourceFromProto = invert(sourceToProto)
)

// toProto renders a customer for the API. lang chooses the language of the warnings.
func toProto(c *customer.Customer, lang string) *customerv1.Customer {
	p := &customerv1.Customer{
		CustomerId: c.ID, Name: c.Name, Type: typeToProto[c.Type], Industry: c.Industry, Uscc: c.USCC,
		ContactName: c.ContactName, ContactTitle: c.ContactTitle, Mobile: c.Mobile, Landline: c.Landline, Email: c.Email,
		Address: &customerv1.Address{Province: c.Address.Province, City: c.Address.City, District: c.Address.District, Street: c.Address.Street},
		Scale:   scaleToProto[c.Scale], Status: statusToProto[c.Status], Source: sourceToProto[c.Source],
		OwnerId: c.OwnerID, TeamId: c.TeamID, Remarks: c.Remarks,
		StatusChangeTime: ts(c.StatusChangedAt), StatusChangedBy: c.StatusChangedBy,
		CreateTime: ts(c.CreatedAt), CreatedBy: c.CreatedBy, UpdateTime: ts(c.UpdatedAt), UpdatedBy: c.UpdatedBy,
		DeletedBy: c.DeletedBy, DeleteReason: c.DeleteReason, Etag: etag(c.Version),
		Level: c.Level, MergedInto: c.MergedInto,
	}
	if c.LastFollowUpAt != nil {
		p.LastFollowupTime = ts(*c.LastFollowUpAt)
	}
	if c.DeletedAt != nil {
		p.DeleteTime = ts(*c.DeletedAt)
	}
	if d := c.FirstContactDate; d != nil {
		p.FirstContactDate = &date.Date{Year: int32(d.Year), Month: int32(d.Month), Day: int32(d.Day)}
	}
	if c.AmountFen != nil {
		p.EstimatedAnnualAmount = &money.Money{CurrencyCode: "CNY", Units: *c.AmountFen / 100, Nanos: int32(*c.AmountFen%100) * 10_000_000}
	}
	if cs := c.Consent; cs != nil {
		p.Consent = &customerv1.Consent{Purpose: cs.Purpose, Channel: cs.Channel, EvidenceRef: cs.EvidenceRef}
		if cs.ObtainedAt != nil {
			p.Consent.ObtainTime = ts(*cs.ObtainedAt)
		}
		if cs.WithdrawnAt != nil {
			p.Consent.WithdrawTime = ts(*cs.WithdrawnAt)
		}
	}
	for _, w := range c.Warnings() {
		p.Warnings = append(p.Warnings, &customerv1.FieldWarning{Field: w.Field, Reason: w.Reason, Message: w.Message.Text(lang)})
	}
	return p
}

// eventData renders a customer for change events.
func eventData(c *customer.Customer) proto.Message {
	p := toProto(c, "zh-CN")
	p.Warnings = nil
	return p
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
		return 0, violation(field, validate.ReasonInvalidFormat, validate.Message{ZH: "etag 无效，请使用读取客户时返回的值", EN: "invalid etag: send the value returned when the customer was read"})
	}
	return v, nil
}

func violation(field, reason string, msg validate.Message) error {
	return &validate.Error{Violations: []validate.Violation{{Field: field, Reason: reason, Message: msg}}}
}

// fromProto converts API input into a customer, collecting conversion errors (enum values out of
// range, money with the wrong currency or sub-fen precision, impossible dates) per field.
func fromProto(p *customerv1.Customer, v *validate.Collector) *customer.Customer {
	c := &customer.Customer{
		Name: p.GetName(), Industry: p.GetIndustry(), USCC: p.GetUscc(), ContactName: p.GetContactName(),
		ContactTitle: p.GetContactTitle(), Mobile: p.GetMobile(), Landline: p.GetLandline(), Email: p.GetEmail(),
		Address: customer.Address{Province: p.GetAddress().GetProvince(), City: p.GetAddress().GetCity(),
			District: p.GetAddress().GetDistrict(), Street: p.GetAddress().GetStreet()},
		OwnerID: p.GetOwnerId(), TeamID: p.GetTeamId(), Remarks: p.GetRemarks(),
	}
	unknown := validate.Message{ZH: "取值无效", EN: "unknown value"}
	if p.GetType() != customerv1.CustomerType_CUSTOMER_TYPE_UNSPECIFIED {
		if c.Type = typeFromProto[p.GetType()]; c.Type == "" {
			v.Add("type", validate.ReasonUnknownCode, unknown)
		}
	}
	if p.GetScale() != customerv1.Scale_SCALE_UNSPECIFIED {
		if c.Scale = scaleFromProto[p.GetScale()]; c.Scale == "" {
			v.Add("scale", validate.ReasonUnknownCode, unknown)
		}
	}
	if p.GetStatus() != customerv1.CustomerStatus_CUSTOMER_STATUS_UNSPECIFIED {
		if c.Status = statusFromProto[p.GetStatus()]; c.Status == "" {
			v.Add("status", validate.ReasonUnknownCode, unknown)
		}
	}
	if p.GetSource() != customerv1.CustomerSource_CUSTOMER_SOURCE_UNSPECIFIED {
		if c.Source = sourceFromProto[p.GetSource()]; c.Source == "" {
			v.Add("source", validate.ReasonUnknownCode, unknown)
		}
	}
	if d := p.GetFirstContactDate(); d != nil {
		c.FirstContactDate = &customer.Date{Year: int(d.GetYear()), Month: time.Month(d.GetMonth()), Day: int(d.GetDay())}
	}
	if m := p.GetEstimatedAnnualAmount(); m != nil {
		switch {
		case m.GetCurrencyCode() != "" && m.GetCurrencyCode() != "CNY":
			v.Add("estimated_annual_amount", validate.ReasonNotAllowed, validate.Message{ZH: "金额币种须为人民币（CNY）", EN: "currency must be CNY"})
		case m.GetNanos()%10_000_000 != 0 || (m.GetUnits() > 0 && m.GetNanos() < 0) || (m.GetUnits() < 0 && m.GetNanos() > 0):
			v.Add("estimated_annual_amount", validate.ReasonInvalidFormat, validate.Message{ZH: "金额最多精确到分", EN: "amount must be a whole number of fen (0.01 CNY)"})
		case m.GetUnits() > 1<<50 || m.GetUnits() < -(1<<50):
			v.Add("estimated_annual_amount", validate.ReasonOutOfRange, validate.Message{ZH: "金额超出范围", EN: "amount out of range"})
		default:
			fen := m.GetUnits()*100 + int64(m.GetNanos()/10_000_000)
			c.AmountFen = &fen
		}
	}
	if cs := p.GetConsent(); cs != nil {
		c.Consent = &customer.Consent{Purpose: cs.GetPurpose(), Channel: cs.GetChannel(), EvidenceRef: cs.GetEvidenceRef()}
		if cs.GetObtainTime() != nil {
			t := cs.GetObtainTime().AsTime()
			c.Consent.ObtainedAt = &t
		}
		if cs.GetWithdrawTime() != nil {
			t := cs.GetWithdrawTime().AsTime()
			c.Consent.WithdrawnAt = &t
		}
	}
	return c
}

// industryToProto renders an industry code.
func industryToProto(i validate.Industry) *customerv1.Industry {
	return &customerv1.Industry{Code: i.Code, Section: i.Section, NameZh: i.NameZH, NameEn: i.NameEN}
}
