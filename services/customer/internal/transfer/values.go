package transfer

import (
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/width"

	"github.com/crmsuite/crm/pkg/sheet"
	"github.com/crmsuite/crm/pkg/validate"
	"github.com/crmsuite/crm/services/customer/internal/customer"
)

// label is one value of an enumerated field with the words a file may use for it. ZH and EN are
// what an export writes.
type label struct {
	value   string
	zh, en  string
	aliases []string
}

var typeLabels = []label{
	{string(customer.TypeEnterprise), "企业客户", "enterprise", []string{"企业", "公司", "企业单位", "CUSTOMER_TYPE_ENTERPRISE"}},
	{string(customer.TypeIndividual), "个人客户", "individual", []string{"个人", "自然人", "CUSTOMER_TYPE_INDIVIDUAL"}},
	{string(customer.TypeInstitution), "机构", "institution", []string{"机构客户", "事业单位", "政府机构", "政府", "社会组织", "CUSTOMER_TYPE_INSTITUTION"}},
	{string(customer.TypePartner), "合作伙伴", "partner", []string{"CUSTOMER_TYPE_PARTNER"}},
	{string(customer.TypeChannel), "渠道商", "channel", []string{"渠道", "代理商", "经销商", "CUSTOMER_TYPE_CHANNEL"}},
	{string(customer.TypeOther), "其他", "other", []string{"其它", "CUSTOMER_TYPE_OTHER"}},
}

var scaleLabels = []label{
	{string(customer.Scale1To50), "1-50人", "1-50", []string{"1~50", "50以下", "50人以下", "SCALE_1_TO_50"}},
	{string(customer.Scale51To200), "51-200人", "51-200", []string{"51~200", "SCALE_51_TO_200"}},
	{string(customer.Scale201To500), "201-500人", "201-500", []string{"201~500", "SCALE_201_TO_500"}},
	{string(customer.Scale501To1000), "501-1000人", "501-1000", []string{"501~1000", "SCALE_501_TO_1000"}},
	{string(customer.ScaleOver1000), "1000人以上", "1000+", []string{"1000以上", ">1000", "1001+", "1000人+", "SCALE_OVER_1000"}},
	{string(customer.ScaleIndividualStd), "个人标准", "individual_standard", []string{"个人普通", "标准", "SCALE_INDIVIDUAL_STANDARD"}},
	{string(customer.ScaleIndividualPremium), "个人高端", "individual_premium", []string{"高端", "个人vip", "SCALE_INDIVIDUAL_PREMIUM"}},
}

var statusLabels = []label{
	{string(customer.StatusPotential), "潜在", "potential", []string{"潜在客户", "CUSTOMER_STATUS_POTENTIAL"}},
	{string(customer.StatusIntention), "意向", "intention", []string{"意向客户", "CUSTOMER_STATUS_INTENTION"}},
	{string(customer.StatusActive), "合作中", "active", []string{"成交", "已成交", "合作", "CUSTOMER_STATUS_ACTIVE"}},
	{string(customer.StatusPaused), "暂停合作", "paused", []string{"暂停", "CUSTOMER_STATUS_PAUSED"}},
	{string(customer.StatusDormant), "休眠", "dormant", []string{"休眠客户", "CUSTOMER_STATUS_DORMANT"}},
	{string(customer.StatusLost), "流失", "lost", []string{"已流失", "流失客户", "CUSTOMER_STATUS_LOST"}},
}

var sourceLabels = []label{
	{string(customer.SourceOnline), "线上推广", "online", []string{"线上", "网络推广", "网络", "CUSTOMER_SOURCE_ONLINE"}},
	{string(customer.SourceExhibition), "展会", "exhibition", []string{"会展", "CUSTOMER_SOURCE_EXHIBITION"}},
	{string(customer.SourceReferral), "转介绍", "referral", []string{"介绍", "客户介绍", "CUSTOMER_SOURCE_REFERRAL"}},
	{string(customer.SourceVisit), "主动拜访", "visit", []string{"拜访", "陌拜", "CUSTOMER_SOURCE_VISIT"}},
	{string(customer.SourcePartner), "合作伙伴推荐", "partner", []string{"伙伴推荐", "CUSTOMER_SOURCE_PARTNER"}},
	{string(customer.SourceInbound), "主动咨询", "inbound", []string{"咨询", "来电咨询", "CUSTOMER_SOURCE_INBOUND"}},
	{string(customer.SourceOther), "其他", "other", []string{"其它", "CUSTOMER_SOURCE_OTHER"}},
}

// enum is a lookup table over labels.
type enum struct {
	labels []label
	index  map[string]string
}

func newEnum(labels []label) enum {
	e := enum{labels: labels, index: map[string]string{}}
	for _, l := range labels {
		for _, w := range append([]string{l.value, l.zh, l.en}, l.aliases...) {
			e.index[foldValue(w)] = l.value
		}
	}
	return e
}

var (
	typeEnum   = newEnum(typeLabels)
	scaleEnum  = newEnum(scaleLabels)
	statusEnum = newEnum(statusLabels)
	sourceEnum = newEnum(sourceLabels)
)

// foldValue folds a cell for enum lookup: half width, lower case, without spaces; the dashes and
// tildes of ranges become "-".
func foldValue(s string) string {
	s = strings.ToLower(width.Fold.String(strings.TrimSpace(s)))
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\u3000', '\u00a0':
			return -1
		case '~', '—', '–', '〜':
			return '-'
		}
		return r
	}, s)
}

func (e enum) parse(s string) (string, bool) {
	f := foldValue(s)
	if v, ok := e.index[f]; ok {
		return v, true
	}
	// Ranges written with 人 after each bound: 51人-200人.
	if v, ok := e.index[strings.ReplaceAll(f, "人", "")]; ok {
		return v, true
	}
	return "", false
}

// words lists the accepted Chinese and English words for messages.
func (e enum) words() (zh, en string) {
	var z, n []string
	for _, l := range e.labels {
		z = append(z, l.zh)
		n = append(n, l.en)
	}
	return strings.Join(z, "、"), strings.Join(n, ", ")
}

// text returns what an export writes for a value: the Chinese label, or the English word for en.
func (e enum) text(value, lang string) string {
	for _, l := range e.labels {
		if l.value == value {
			if isEnglish(lang) {
				return l.en
			}
			return l.zh
		}
	}
	return value
}

func isEnglish(lang string) bool {
	return validate.Message{ZH: "zh", EN: "en"}.Text(lang) == "en"
}

// industryByName finds industry codes by their Chinese or English name.
var industryByName = func() map[string]string {
	m := map[string]string{}
	for _, ind := range validate.Industries() {
		m[foldValue(ind.NameZH)] = ind.Code
		m[foldValue(ind.NameEN)] = ind.Code
	}
	return m
}()

// parseIndustry accepts a code (I65), a code followed by its name (I65 软件和信息技术服务业) or a
// name alone. Unknown values are returned as given for Validate to report.
func parseIndustry(s string) string {
	code, _, _ := strings.Cut(strings.TrimSpace(width.Fold.String(s)), " ")
	if ind, ok := validate.LookupIndustry(code); ok {
		return ind.Code
	}
	if c, ok := industryByName[foldValue(s)]; ok {
		return c
	}
	return s
}

// parseDate accepts 2026-01-02, 2026/1/2, 2026.1.2, 2026年1月2日, 20260102, a date followed by a
// time, and Excel's serial day numbers (what an XLSX date cell holds).
func parseDate(s string) (*customer.Date, bool) {
	s = strings.TrimSpace(width.Fold.String(s))
	if d, _, ok := strings.Cut(s, " "); ok {
		s = d
	}
	if d, _, ok := strings.Cut(s, "T"); ok && len(d) >= 8 {
		s = d
	}
	if isDigits(s) && len(s) == 8 {
		y, _ := strconv.Atoi(s[:4])
		m, _ := strconv.Atoi(s[4:6])
		d, _ := strconv.Atoi(s[6:])
		return &customer.Date{Year: y, Month: time.Month(m), Day: d}, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		// Excel counts days from 1899-12-30 (keeping Lotus' leap-year bug before March 1900).
		if f < 1 || f > 2958465 {
			return nil, false
		}
		t := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(f))
		return &customer.Date{Year: t.Year(), Month: t.Month(), Day: t.Day()}, true
	}
	s = dateSeparators.Replace(s)
	parts := strings.Split(s, "-")
	if len(parts) != 3 {
		return nil, false
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil {
			return nil, false
		}
		n[i] = v
	}
	if n[0] < 100 {
		return nil, false
	}
	return &customer.Date{Year: n[0], Month: time.Month(n[1]), Day: n[2]}, true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Built once: a Replacer per call was a tenth of an XLSX import's allocations.
var (
	dateSeparators   = strings.NewReplacer("年", "-", "月", "-", "日", "", "/", "-", ".", "-")
	amountSeparators = strings.NewReplacer(",", "", " ", "", "，", "")
)

// parseAmount reads a yuan amount: 1234.56, 1,234.56, ¥1234, 1234元, 12.5万, 1.2亿 (万 = 10⁴,
// 亿 = 10⁸). It returns fen; more precision than a fen is refused.
func parseAmount(s string) (int64, bool) {
	s = strings.TrimSpace(width.Fold.String(s))
	for _, cut := range []string{"人民币", "rmb", "RMB", "cny", "CNY", "¥", "￥", "元"} {
		s = strings.ReplaceAll(s, cut, "")
	}
	s = amountSeparators.Replace(s)
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "万"):
		mult, s = 1e4, strings.TrimSuffix(s, "万")
	case strings.HasSuffix(s, "亿"):
		mult, s = 1e8, strings.TrimSuffix(s, "亿")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	x := f * mult * 100
	fen := math.Round(x)
	// Numbers from XLSX cells carry binary noise (1234.5600000000001); anything else finer than a
	// fen is a real fraction.
	if math.Abs(x-fen) > 1e-6+1e-12*math.Abs(x) || math.Abs(fen) > 1e17 {
		return 0, false
	}
	return int64(fen), true
}

// parseMobile turns a number cell Excel shows in scientific notation (1.3812345678E+10) back into
// its digits; other text is kept for Normalise and Validate.
func parseMobile(s string) string {
	if strings.ContainsAny(s, "eE") {
		if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 1e10 && f < 1e11 && f == math.Trunc(f) {
			return strconv.FormatInt(int64(f), 10)
		}
	}
	return s
}

// unneutralise removes the apostrophe an export puts before a cell that would otherwise be taken
// for a formula, so that an exported file imports as it was.
func unneutralise(s string) string {
	if len(s) > 1 && s[0] == '\'' && strings.IndexByte(sheet.FormulaLead, s[1]) >= 0 {
		return s[1:]
	}
	return s
}
