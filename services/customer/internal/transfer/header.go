package transfer

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"golang.org/x/text/width"

	"github.com/crmsuite/crm/pkg/validate"
)

// Field is one importable customer field: its API path, its labels and the column names it is
// recognised by.
type Field struct {
	Path     string
	ZH, EN   string
	Required bool
	aliases  []string
}

// fields lists the importable fields in export order. Aliases are compared after normHeader
// (lower case, half width, no spaces, underscores, hyphens, slashes or required-marks).
var fields = []Field{
	{Path: "name", ZH: "客户名称", EN: "Customer name", Required: true, aliases: []string{
		"客户名称", "客户名", "名称", "客户全称", "公司名称", "公司", "企业名称", "单位名称", "name", "customername", "customer", "company", "companyname"}},
	{Path: "type", ZH: "客户类型", EN: "Customer type", Required: true, aliases: []string{
		"客户类型", "类型", "客户类别", "type", "customertype"}},
	{Path: "industry", ZH: "所属行业", EN: "Industry", aliases: []string{
		"所属行业", "行业", "行业代码", "行业分类", "industry", "industrycode"}},
	{Path: "uscc", ZH: "统一社会信用代码", EN: "USCC", aliases: []string{
		"统一社会信用代码", "社会信用代码", "信用代码", "统一信用代码", "uscc", "creditcode", "unifiedsocialcreditcode"}},
	{Path: "contact_name", ZH: "联系人", EN: "Contact name", Required: true, aliases: []string{
		"联系人", "联系人姓名", "联系人名称", "姓名", "contact", "contactname", "contactperson"}},
	{Path: "contact_title", ZH: "职位", EN: "Contact title", aliases: []string{
		"职位", "联系人职位", "职务", "联系人职务", "title", "contacttitle", "position", "jobtitle"}},
	{Path: "mobile", ZH: "联系方式(手机)", EN: "Mobile", Required: true, aliases: []string{
		"联系方式(手机)", "联系方式", "手机", "手机号", "手机号码", "联系手机", "移动电话", "联系电话", "mobile", "mobilephone", "phone", "cellphone", "cell"}},
	{Path: "landline", ZH: "固定电话", EN: "Landline", aliases: []string{
		"固定电话", "座机", "电话", "办公电话", "固话", "landline", "telephone", "tel", "officephone"}},
	{Path: "email", ZH: "电子邮箱", EN: "Email", aliases: []string{
		"电子邮箱", "邮箱", "电子邮件", "邮件", "email", "mail", "emailaddress"}},
	{Path: "address.province", ZH: "省份", EN: "Province", Required: true, aliases: []string{
		"省份", "省", "所在省份", "省直辖市", "province", "addressprovince"}},
	{Path: "address.city", ZH: "城市", EN: "City", Required: true, aliases: []string{
		"城市", "市", "所在城市", "city", "addresscity"}},
	{Path: "address.district", ZH: "区县", EN: "District", aliases: []string{
		"区县", "区", "县", "district", "county", "addressdistrict"}},
	{Path: "address.street", ZH: "详细地址", EN: "Street", aliases: []string{
		"详细地址", "街道地址", "地址", "客户地址", "街道", "street", "address", "streetaddress", "addressstreet"}},
	{Path: "scale", ZH: "客户规模", EN: "Scale", Required: true, aliases: []string{
		"客户规模", "规模", "人员规模", "企业规模", "员工人数", "scale", "size", "companysize", "employees"}},
	{Path: "status", ZH: "客户状态", EN: "Status", aliases: []string{
		"客户状态", "状态", "status", "customerstatus"}},
	{Path: "source", ZH: "客户来源", EN: "Source", aliases: []string{
		"客户来源", "来源", "渠道来源", "source", "customersource"}},
	{Path: "first_contact_date", ZH: "首次接触时间", EN: "First contact date", aliases: []string{
		"首次接触时间", "首次接触日期", "首次接触", "首次联系时间", "firstcontactdate", "firstcontact", "firstcontacttime"}},
	{Path: "owner_id", ZH: "负责人", EN: "Owner", aliases: []string{
		"负责人", "负责人id", "负责人编号", "客户经理", "owner", "ownerid", "accountmanager"}},
	{Path: "team_id", ZH: "所属团队", EN: "Team", aliases: []string{
		"所属团队", "团队", "团队id", "部门", "team", "teamid"}},
	{Path: "estimated_annual_amount", ZH: "年度预估合作金额", EN: "Estimated annual amount", aliases: []string{
		"年度预估合作金额", "预估合作金额", "年度预估金额", "预估金额", "年度合作金额", "金额", "estimatedannualamount", "annualamount", "amount"}},
	{Path: "remarks", ZH: "备注", EN: "Remarks", aliases: []string{
		"备注", "说明", "备注信息", "remarks", "remark", "notes", "note", "comment", "comments"}},
}

// exportOnly are columns of an export that an import recognises and ignores: they are set by the
// system, not by the importer.
var exportOnly = []string{
	"客户编号", "customerid", "id", "客户等级", "等级", "level", "建档日期", "创建时间", "createtime", "createdat",
	"最后更新时间", "更新时间", "updatetime", "updatedat", "最近跟进时间", "lastfollowuptime", "lastfollowup",
	"创建人", "createdby", "删除时间", "deletetime", "删除原因", "deletereason", "合并至", "mergedinto",
}

// Fields returns the importable fields in export order.
func Fields() []Field { return slices.Clone(fields) }

// LookupField finds an importable field by API path; "province" and the other address leaves are
// accepted without their "address." prefix.
func LookupField(p string) (Field, bool) {
	p = strings.TrimSpace(p)
	for _, f := range fields {
		if f.Path == p || f.Path == "address."+p {
			return f, true
		}
	}
	return Field{}, false
}

var aliasIndex = func() map[string]string {
	m := map[string]string{}
	for _, f := range fields {
		for _, a := range f.aliases {
			m[a] = f.Path
		}
	}
	for _, a := range exportOnly {
		m[a] = ""
	}
	return m
}()

// normHeader folds a column header for comparison: half width, lower case, without white space,
// required-marks (*) and separators.
func normHeader(s string) string {
	s = strings.ToLower(width.Fold.String(s))
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n', '*', '_', '-', '/', '\\', '.', ':', '\u00a0', '\u3000', '\ufeff':
			return -1
		}
		return r
	}, s)
}

// stripParens removes a parenthesised remark: 手机号码(必填) → 手机号码.
func stripParens(s string) string {
	if i := strings.IndexByte(s, '('); i > 0 {
		return s[:i]
	}
	return s
}

// recognise returns the field a header names, whether it is a known export-only column, and
// whether it was recognised at all.
func recognise(header string) (path string, known bool) {
	n := normHeader(header)
	if p, ok := aliasIndex[n]; ok {
		return p, true
	}
	if p, ok := aliasIndex[stripParens(n)]; ok {
		return p, true
	}
	return "", false
}

// Mapping says which field each column of a file holds.
type Mapping struct {
	// HeaderRow is the row number of the header.
	HeaderRow int
	// Headers are the header cells as written (trimmed).
	Headers []string
	// Paths holds the field path of each column, "" for ignored columns.
	Paths []string
	// Ignored lists the headers of columns not imported.
	Ignored []string
	// column maps a field path to its column index.
	column map[string]int
}

// Column returns the header of the column holding a field, "" when the file has none.
func (m *Mapping) Column(path string) string {
	if i, ok := m.column[path]; ok {
		return m.Headers[i]
	}
	return ""
}

// Columns lists the recognised columns as header → field path pairs in file order.
func (m *Mapping) Columns() [][2]string {
	var out [][2]string
	for i, p := range m.Paths {
		if p != "" {
			out = append(out, [2]string{m.Headers[i], p})
		}
	}
	return out
}

// ValidateMapping checks an explicit column mapping: every target must be an importable field
// path or empty (ignore the column).
func ValidateMapping(explicit map[string]string) error {
	var v validate.Collector
	for col, p := range explicit {
		if strings.TrimSpace(p) == "" {
			continue
		}
		if _, ok := LookupField(p); !ok {
			v.Add("options.column_mapping["+col+"]", validate.ReasonUnknownCode, validate.Message{
				ZH: "未知字段 " + p + "；可用字段：" + fieldList(), EN: "unknown field " + p + "; fields: " + fieldList()})
		}
	}
	return v.Err()
}

func fieldList() string {
	var out []string
	for _, f := range fields {
		out = append(out, f.Path)
	}
	return strings.Join(out, ", ")
}

// explicitPath looks a header up in an explicit mapping, by its exact (trimmed) text or its folded
// form.
func explicitPath(explicit map[string]string, header string) (string, bool) {
	if p, ok := explicit[header]; ok {
		return p, true
	}
	n := normHeader(header)
	for col, p := range explicit {
		if normHeader(col) == n {
			return p, true
		}
	}
	return "", false
}

// MapHeader builds the mapping of a header row. explicit (column header → field path, "" to
// ignore) takes precedence over recognised names. It returns a *FileError when required columns
// are missing or two columns hold the same field.
func MapHeader(row int, cells []string, explicit map[string]string) (*Mapping, error) {
	m := &Mapping{HeaderRow: row, column: map[string]int{}}
	dups := map[string][]string{}
	for i, c := range cells {
		h := strings.TrimSpace(strings.TrimPrefix(c, "\ufeff"))
		m.Headers = append(m.Headers, h)
		p, ok := explicitPath(explicit, h)
		if ok {
			if f, found := LookupField(p); found {
				p = f.Path
			}
		} else {
			p, _ = recognise(h)
		}
		m.Paths = append(m.Paths, p)
		if p == "" {
			if h != "" {
				m.Ignored = append(m.Ignored, h)
			}
			continue
		}
		if j, seen := m.column[p]; seen {
			dups[p] = append(dups[p], m.Headers[j], h)
			continue
		}
		m.column[p] = i
	}
	if len(dups) > 0 {
		var zh, en []string
		for _, f := range fields {
			if cols, ok := dups[f.Path]; ok {
				zh = append(zh, fmt.Sprintf("%s（%s）", f.ZH, strings.Join(slices.Compact(cols), "、")))
				en = append(en, fmt.Sprintf("%s (%s)", f.Path, strings.Join(slices.Compact(cols), ", ")))
			}
		}
		return nil, fileError(ReasonDuplicateColumns,
			"多列对应同一字段："+strings.Join(zh, "；")+"；请删除多余的列或用列映射指定",
			"several columns hold the same field: "+strings.Join(en, "; ")+"; remove the extra columns or give an explicit mapping")
	}
	var missZH, missEN []string
	for _, f := range fields {
		if _, ok := m.column[f.Path]; f.Required && !ok {
			missZH = append(missZH, f.ZH)
			missEN = append(missEN, f.Path)
		}
	}
	if len(missZH) > 0 {
		return nil, fileError(ReasonMissingColumns,
			"缺少必填列："+strings.Join(missZH, "、")+"（表头在第 "+fmt.Sprint(row)+" 行）",
			"required columns are missing: "+strings.Join(missEN, ", ")+fmt.Sprintf(" (header in row %d)", row))
	}
	return m, nil
}

// maxHeaderSearch is how many non-empty rows may precede the header (a title, a note).
const maxHeaderSearch = 10

// ReadHeader reads the rows before the first data row: optional title rows and the header, which
// is the first of the first ten non-empty rows that IsHeader. suspectEncoding adds a hint about
// the encoding to the error of a file without a recognisable header.
func ReadHeader(r *Reader, explicit map[string]string, suspectEncoding bool) (*Mapping, error) {
	seen := 0
	for seen < maxHeaderSearch {
		row, cells, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		if blank(cells) {
			continue
		}
		seen++
		if IsHeader(cells, explicit) {
			return MapHeader(row, cells, explicit)
		}
	}
	if seen == 0 {
		return nil, errEmpty()
	}
	return nil, ErrHeaderNotFound(suspectEncoding)
}

// IsHeader reports whether a row looks like the header: at least two columns are recognised or
// explicitly mapped.
func IsHeader(cells []string, explicit map[string]string) bool {
	n := 0
	for _, c := range cells {
		h := strings.TrimSpace(strings.TrimPrefix(c, "\ufeff"))
		if h == "" {
			continue
		}
		if _, ok := explicitPath(explicit, h); ok {
			n++
			continue
		}
		if p, known := recognise(h); known && p != "" {
			n++
		}
	}
	return n >= 2
}

// ErrHeaderNotFound is the file error for a file whose first rows hold no recognisable header.
// suspectEncoding adds a hint for a file read as GB18030, where a wrong guess garbles the header.
func ErrHeaderNotFound(suspectEncoding bool) *FileError {
	e := fileError(ReasonHeaderNotFound,
		"找不到表头：前 10 行中没有可识别的列名（如 客户名称、客户类型、联系人、联系方式、省份、城市、客户规模）",
		"no header found: none of the first 10 rows has recognisable column names (such as name, type, contact_name, mobile, province, city, scale)")
	if suspectEncoding {
		e.Message.ZH += "；如果列名显示为乱码，请另存为“CSV UTF-8（逗号分隔）”"
		e.Message.EN += "; if the column names look garbled, save the file as \"CSV UTF-8 (Comma delimited)\""
	}
	return e
}
