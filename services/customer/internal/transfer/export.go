package transfer

import (
	"io"
	"strconv"
	"time"

	"github.com/crmsuite/crm/pkg/sheet"
	"github.com/crmsuite/crm/services/customer/internal/customer"
)

// exportColumn is one column of a customer export.
type exportColumn struct {
	zh, en string
	value  func(c *customer.Customer, lang string) string
}

// shanghai is the zone export times are written in (China Standard Time, no DST).
var shanghai = time.FixedZone("CST", 8*3600)

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(shanghai).Format(time.DateTime)
}

var levelLabels = map[string]string{"high": "高", "medium": "中", "low": "低"}

// exportColumns are the columns of a customer export: the id, every importable field under the
// header an import recognises, then the system-kept fields an import ignores. An export therefore
// imports again as it is.
var exportColumns = func() []exportColumn {
	cols := []exportColumn{{"客户编号", "Customer ID", func(c *customer.Customer, _ string) string { return c.ID }}}
	value := map[string]func(c *customer.Customer, lang string) string{
		"name":             func(c *customer.Customer, _ string) string { return c.Name },
		"type":             func(c *customer.Customer, lang string) string { return typeEnum.text(string(c.Type), lang) },
		"industry":         func(c *customer.Customer, _ string) string { return c.Industry },
		"uscc":             func(c *customer.Customer, _ string) string { return c.USCC },
		"contact_name":     func(c *customer.Customer, _ string) string { return c.ContactName },
		"contact_title":    func(c *customer.Customer, _ string) string { return c.ContactTitle },
		"mobile":           func(c *customer.Customer, _ string) string { return c.Mobile },
		"landline":         func(c *customer.Customer, _ string) string { return c.Landline },
		"email":            func(c *customer.Customer, _ string) string { return c.Email },
		"address.province": func(c *customer.Customer, _ string) string { return c.Address.Province },
		"address.city":     func(c *customer.Customer, _ string) string { return c.Address.City },
		"address.district": func(c *customer.Customer, _ string) string { return c.Address.District },
		"address.street":   func(c *customer.Customer, _ string) string { return c.Address.Street },
		"scale":            func(c *customer.Customer, lang string) string { return scaleEnum.text(string(c.Scale), lang) },
		"status":           func(c *customer.Customer, lang string) string { return statusEnum.text(string(c.Status), lang) },
		"source": func(c *customer.Customer, lang string) string {
			if c.Source == "" {
				return ""
			}
			return sourceEnum.text(string(c.Source), lang)
		},
		"first_contact_date": func(c *customer.Customer, _ string) string {
			if c.FirstContactDate == nil {
				return ""
			}
			return c.FirstContactDate.String()
		},
		"owner_id": func(c *customer.Customer, _ string) string { return c.OwnerID },
		"team_id":  func(c *customer.Customer, _ string) string { return c.TeamID },
		"estimated_annual_amount": func(c *customer.Customer, _ string) string {
			if c.AmountFen == nil {
				return ""
			}
			return customer.FormatYuan(*c.AmountFen)
		},
		"remarks": func(c *customer.Customer, _ string) string { return c.Remarks },
	}
	for _, f := range fields {
		cols = append(cols, exportColumn{f.ZH, f.EN, value[f.Path]})
	}
	return append(cols,
		exportColumn{"客户等级", "Level", func(c *customer.Customer, lang string) string {
			if l, ok := levelLabels[c.Level]; ok && !isEnglish(lang) {
				return l
			}
			return c.Level
		}},
		exportColumn{"建档日期", "Created at", func(c *customer.Customer, _ string) string { return timeText(c.CreatedAt) }},
		exportColumn{"最后更新时间", "Updated at", func(c *customer.Customer, _ string) string { return timeText(c.UpdatedAt) }},
		exportColumn{"最近跟进时间", "Last follow-up", func(c *customer.Customer, _ string) string {
			if c.LastFollowUpAt == nil {
				return ""
			}
			return timeText(*c.LastFollowUpAt)
		}},
	)
}()

// amountColumn is the index of 年度预估合作金额, written as a number in XLSX.
var amountColumn = func() int {
	for i, f := range fields {
		if f.Path == "estimated_annual_amount" {
			return i + 1
		}
	}
	return -1
}()

// Exporter writes customers as rows of an export file.
type Exporter struct {
	w    *sheet.Writer
	lang string
	mask bool
	row  []string
	n    int
}

// NewExporter starts an export onto w and writes its header in lang (zh-CN or en). mask writes
// personal information masked (customer.Masked).
func NewExporter(w io.Writer, f Format, lang string, mask bool) (*Exporter, error) {
	sheetName := "客户"
	if isEnglish(lang) {
		sheetName = "Customers"
	}
	fw, err := sheet.NewWriter(w, f, sheetName, amountColumn)
	if err != nil {
		return nil, err
	}
	e := &Exporter{w: fw, lang: lang, mask: mask, row: make([]string, len(exportColumns))}
	for i, col := range exportColumns {
		e.row[i] = col.zh
		if isEnglish(lang) {
			e.row[i] = col.en
		}
	}
	if err := fw.Write(e.row); err != nil {
		return nil, err
	}
	return e, nil
}

// Write writes one customer.
func (e *Exporter) Write(c *customer.Customer) error {
	if e.mask {
		c = c.Masked()
	}
	for i, col := range exportColumns {
		e.row[i] = col.value(c, e.lang)
	}
	e.n++
	return e.w.Write(e.row)
}

// Rows returns how many customers were written.
func (e *Exporter) Rows() int { return e.n }

// Close finishes the file.
func (e *Exporter) Close() error { return e.w.Close() }

// IssueReport writes the issues of an import as a CSV file (the downloadable error report).
type IssueReport struct {
	w    *sheet.Writer
	lang string
	row  []string
}

// NewIssueReport starts a report onto w with headers in lang.
func NewIssueReport(w io.Writer, lang string) (*IssueReport, error) {
	fw, err := sheet.NewWriter(w, FormatCSV, "")
	if err != nil {
		return nil, err
	}
	header := []string{"行号", "列", "字段", "错误代码", "处理结果", "说明"}
	if isEnglish(lang) {
		header = []string{"Row", "Column", "Field", "Code", "Outcome", "Message"}
	}
	if err := fw.Write(header); err != nil {
		return nil, err
	}
	return &IssueReport{w: fw, lang: lang, row: make([]string, len(header))}, nil
}

var outcomes = map[Kind][2]string{KindError: {"未导入（错误）", "not imported (error)"}, KindDuplicate: {"已跳过（重复）", "skipped (duplicate)"}}

// Write writes one issue.
func (r *IssueReport) Write(is Issue) error {
	out := outcomes[is.Kind]
	outcome := out[0]
	if isEnglish(r.lang) {
		outcome = out[1]
	}
	r.row[0], r.row[1], r.row[2], r.row[3], r.row[4], r.row[5] =
		strconv.Itoa(is.Row), is.Column, is.Field, is.Reason, outcome, is.Message.Text(r.lang)
	return r.w.Write(r.row)
}

// Close finishes the report.
func (r *IssueReport) Close() error { return r.w.Close() }
