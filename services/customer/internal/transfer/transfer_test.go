package transfer_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"

	"github.com/crmsuite/crm/pkg/sheet"
	"github.com/crmsuite/crm/pkg/validate"
	"github.com/crmsuite/crm/services/customer/internal/customer"
	"github.com/crmsuite/crm/services/customer/internal/transfer"
)

var now = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

var admin = transfer.Importer{UserID: "u-admin", TeamID: "hq", Scope: transfer.ScopeAll}

// zhHeader is a header as Chinese Excel users write it, with required marks.
var zhHeader = []string{"客户名称*", "客户类型*", "所属行业", "统一社会信用代码", "联系人*", "联系方式（手机）*", "电子邮箱",
	"省份*", "城市*", "区县", "详细地址", "客户规模*", "客户状态", "年度预估合作金额", "首次接触时间", "备注"}

// uscc returns a valid unified social credit code for n.
func uscc(n int) string {
	body := fmt.Sprintf("91320500%09d", n)
	check, _ := validate.USCCCheckChar(body)
	return body + string(check)
}

// zhRow returns a valid data row under zhHeader; n makes name, mobile, e-mail and USCC unique.
func zhRow(n int) []string {
	return []string{fmt.Sprintf("苏州星湖%05d科技有限公司", n), "企业客户", "I65", uscc(n), "王芳", fmt.Sprintf("139%08d", n),
		fmt.Sprintf("wang%d@example.com", n), "江苏", "苏州市", "工业园区", "星湖街328号", "51-200人", "意向", "12.5万", "2026-03-01", "老客户介绍"}
}

func table(rows ...[]string) [][]string { return rows }

func csvText(rows [][]string) string {
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.UseCRLF = true
	_ = w.WriteAll(rows)
	return b.String()
}

// encode returns the CSV text in an encoding as Excel or another tool would write it.
func encode(t testing.TB, text string, enc transfer.Encoding) []byte {
	t.Helper()
	switch enc {
	case transfer.EncodingUTF8:
		return []byte(text)
	case transfer.EncodingUTF8BOM:
		return append([]byte{0xEF, 0xBB, 0xBF}, text...)
	case transfer.EncodingGB18030:
		b, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return b
	case transfer.EncodingUTF16LE:
		b, err := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().Bytes([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Fatalf("encoding %s", enc)
	return nil
}

// xlsxFile builds a workbook with excelize (shared strings, as Excel writes them); formulas are
// cell → formula.
func xlsxFile(t testing.TB, rows [][]string, formulas map[string]string) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	for i, r := range rows {
		cells := make([]any, len(r))
		for j, c := range r {
			cells[j] = c
		}
		if err := f.SetSheetRow("Sheet1", fmt.Sprintf("A%d", i+1), &cells); err != nil {
			t.Fatal(err)
		}
	}
	for cell, formula := range formulas {
		if err := f.SetCellFormula("Sheet1", cell, formula); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// imported is what reading a file gives: the mapping, converted rows and their issues.
type imported struct {
	scan      transfer.Scan
	mapping   *transfer.Mapping
	customers map[int]*customer.Customer
	issues    []transfer.Issue
}

// read runs both passes over a file the way an import job does.
func read(t testing.TB, name string, data []byte, explicit map[string]string, imp transfer.Importer) (imported, error) {
	t.Helper()
	format, err := transfer.DetectFormat(name, data, "")
	if err != nil {
		return imported{}, err
	}
	var sc transfer.Scan
	var rd *transfer.Reader
	if format == transfer.FormatXLSX {
		if sc, err = transfer.ScanXLSX(data, "", transfer.DefaultLimits()); err != nil {
			return imported{}, err
		}
		rd, err = transfer.OpenXLSX(data, sc)
	} else {
		if sc, err = transfer.ScanCSV(bytes.NewReader(data), transfer.DefaultLimits()); err != nil {
			return imported{}, err
		}
		rd, err = transfer.OpenCSV(bytes.NewReader(data), sc)
	}
	if err != nil {
		return imported{}, err
	}
	defer rd.Close()
	m, err := transfer.ReadHeader(rd, explicit, sc.Encoding == transfer.EncodingGB18030)
	if err != nil {
		return imported{}, err
	}
	out := imported{scan: sc, mapping: m, customers: map[int]*customer.Customer{}}
	conv := transfer.NewConverter(m, imp, now)
	for {
		row, cells, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return imported{}, err
		}
		if strings.TrimSpace(strings.Join(cells, "")) == "" {
			continue
		}
		c, issues := conv.Convert(row, cells)
		out.customers[row] = c
		out.issues = append(out.issues, issues...)
	}
}

func fileReason(err error) string {
	var fe *transfer.FileError
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return ""
}

func TestEncodingsAreDetected(t *testing.T) {
	t.Parallel()
	text := csvText(table(zhHeader, zhRow(1), zhRow(2)))
	for _, enc := range []transfer.Encoding{transfer.EncodingUTF8, transfer.EncodingUTF8BOM, transfer.EncodingGB18030, transfer.EncodingUTF16LE} {
		t.Run(string(enc), func(t *testing.T) {
			t.Parallel()
			got, err := read(t, "客户.csv", encode(t, text, enc), nil, admin)
			if err != nil {
				t.Fatal(err)
			}
			if got.scan.Encoding != enc || got.scan.Rows != 3 {
				t.Fatalf("scan = %+v, want encoding %s and 3 rows", got.scan, enc)
			}
			if len(got.issues) != 0 {
				t.Fatalf("issues: %+v", got.issues)
			}
			c := got.customers[2]
			if c == nil || c.Name != "苏州星湖00001科技有限公司" || c.Address.Province != "江苏省" || c.Mobile != "13900000001" {
				t.Fatalf("row 2 = %+v", c)
			}
		})
	}
}

func TestBadFilesAreRefusedWithClearErrors(t *testing.T) {
	t.Parallel()
	header := csvText(table(zhHeader, zhRow(1)))
	cases := []struct {
		name, file string
		data       []byte
		reason     string
	}{
		{"invalid bytes", "a.csv", append([]byte(header), 0xFF, 0xFE, 0x80, '\n'), transfer.ReasonEncoding},
		{"invalid bytes after a UTF-8 BOM", "a.csv", append(encode(t, header, transfer.EncodingUTF8BOM), 0xC3, 0x28, '\n'), transfer.ReasonEncoding},
		{"GB18030 bytes after a UTF-8 BOM", "a.csv", append([]byte{0xEF, 0xBB, 0xBF}, encode(t, header, transfer.EncodingGB18030)...), transfer.ReasonEncoding},
		{"NUL bytes", "a.csv", []byte("客户名称,联系人\x00\n"), transfer.ReasonEncoding},
		{"UTF-16 without BOM", "a.csv", encode(t, header, transfer.EncodingUTF16LE)[2:], transfer.ReasonEncoding},
		{"broken zip", "a.xlsx", []byte("PK\x03\x04 this is not really a zip archive"), transfer.ReasonXLSXBroken},
		{"truncated xlsx", "a.xlsx", xlsxFile(t, table(zhHeader, zhRow(1)), nil)[:300], transfer.ReasonXLSXBroken},
		{"text named xlsx", "a.xlsx", []byte(header), transfer.ReasonXLSXBroken},
		{"old xls", "a.xls", []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}, transfer.ReasonXLSUnsupported},
		{"empty", "a.csv", []byte("\r\n\r\n"), transfer.ReasonFileEmpty},
		{"unterminated quote", "a.csv", []byte(header + "\"苏州,企业客户\n"), transfer.ReasonCSVMalformed},
		{"no header", "a.csv", []byte("a,b,c\n1,2,3\n"), transfer.ReasonHeaderNotFound},
		{"missing required columns", "a.csv", []byte(csvText(table([]string{"客户名称", "联系人", "手机"}, []string{"x", "y", "13900000000"}))),
			transfer.ReasonMissingColumns},
		{"two mobile columns", "a.csv", []byte(csvText(table(append(slices.Clone(zhHeader), "手机号码"), append(zhRow(1), "13900000009")))),
			transfer.ReasonDuplicateColumns},
		{"formula in csv", "a.csv", []byte(csvText(table(zhHeader, zhRow(1), append(zhRow(2)[:15], "=HYPERLINK(\"http://x\")")))),
			transfer.ReasonFormula},
		{"formula in xlsx", "a.xlsx", xlsxFile(t, table(zhHeader, zhRow(1), zhRow(2)), map[string]string{"N3": "=1+1"}), transfer.ReasonFormula},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := read(t, tc.file, tc.data, nil, admin)
			if got := fileReason(err); got != tc.reason {
				t.Fatalf("error %v (reason %q), want reason %s", err, got, tc.reason)
			}
			var fe *transfer.FileError
			errors.As(err, &fe)
			if fe.Message.ZH == "" || fe.Message.EN == "" {
				t.Fatalf("message not bilingual: %+v", fe.Message)
			}
		})
	}
}

func TestFileErrorDetails(t *testing.T) {
	t.Parallel()
	_, err := read(t, "a.csv", []byte(csvText(table([]string{"客户名称", "联系人", "手机"}, []string{"x", "y", "13900000000"}))), nil, admin)
	var fe *transfer.FileError
	if !errors.As(err, &fe) || !strings.Contains(fe.Message.ZH, "客户类型") || !strings.Contains(fe.Message.ZH, "客户规模") ||
		!strings.Contains(fe.Message.EN, "address.province") {
		t.Fatalf("missing columns message: %v", err)
	}
	_, err = read(t, "a.xlsx", xlsxFile(t, table(zhHeader, zhRow(1), zhRow(2)), map[string]string{"N3": "=1+1", "B2": "=A1"}), nil, admin)
	if !errors.As(err, &fe) || len(fe.Issues) != 2 {
		t.Fatalf("formula issues: %v %+v", err, fe)
	}
	cells := []string{fe.Issues[0].Column + fmt.Sprint(fe.Issues[0].Row), fe.Issues[1].Column + fmt.Sprint(fe.Issues[1].Row)}
	slices.Sort(cells)
	if !slices.Equal(cells, []string{"B2", "N3"}) || !strings.Contains(fe.Message.ZH, "2 个单元格") {
		t.Fatalf("formula cells %v, message %q", cells, fe.Message.ZH)
	}
	// A cell an export neutralised is text, and imports without its apostrophe.
	row := zhRow(3)
	row[15] = "'=1+1"
	got, err := read(t, "a.csv", []byte(csvText(table(zhHeader, row))), nil, admin)
	if err != nil || got.customers[2].Remarks != "=1+1" {
		t.Fatalf("neutralised cell: %v %+v", err, got.customers[2])
	}
}

func TestXLSXImport(t *testing.T) {
	t.Parallel()
	rows := table([]string{"客户导入模板（2026）"}, zhHeader, zhRow(1), nil, zhRow(2))
	data := xlsxFile(t, rows, nil)
	got, err := read(t, "客户名单.xlsx", data, nil, admin)
	if err != nil {
		t.Fatal(err)
	}
	// The title is row 1, the header row 2, the data rows 3 and 5 (row 4 is empty).
	if got.mapping.HeaderRow != 2 || len(got.customers) != 2 || got.customers[3] == nil || got.customers[5] == nil || len(got.issues) != 0 {
		t.Fatalf("header row %d, rows %v, issues %+v", got.mapping.HeaderRow, got.customers, got.issues)
	}
	if c := got.customers[5]; c.Name != "苏州星湖00002科技有限公司" || c.Scale != customer.Scale51To200 || *c.AmountFen != 12_500_000 {
		t.Fatalf("row 5 = %+v", c)
	}
	// Numbers and dates as XLSX stores them: mobile as a number, the date as a serial day.
	f := excelize.NewFile()
	defer f.Close()
	_ = f.SetSheetRow("Sheet1", "A1", &[]any{"客户名称", "客户类型", "联系人", "手机", "省份", "城市", "客户规模", "首次接触时间", "金额", "客户状态"})
	_ = f.SetSheetRow("Sheet1", "A2", &[]any{"杭州数值测试有限公司", "企业", "李雷", 13912345678, "浙江", "杭州", "1-50", 45292, 1234.56, "合作中"})
	_ = f.SetCellValue("Sheet1", "K2", "不导入的列")
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		t.Fatal(err)
	}
	got, err = read(t, "n.xlsx", buf.Bytes(), nil, admin)
	if err != nil {
		t.Fatal(err)
	}
	c := got.customers[2]
	if c.Mobile != "13912345678" || c.FirstContactDate.String() != "2024-01-01" || *c.AmountFen != 123456 {
		t.Fatalf("numbers: %+v %v (issues %+v)", c, c.FirstContactDate, got.issues)
	}
	// Industry is required for enterprises; the file has no industry column.
	if len(got.issues) != 1 || got.issues[0].Field != "industry" || got.issues[0].Column != "" {
		t.Fatalf("issues %+v", got.issues)
	}
}

func TestHeaderMapping(t *testing.T) {
	t.Parallel()
	en := []string{"Customer Name", "TYPE", "industry", "Contact name", "mobile_phone", "Province", "City", "Scale", "Customer ID", "Favourite colour"}
	row := []string{"Shenzhen Test Ltd", "enterprise", "I65", "张伟", "+86 139 0000 0042", "广东", "深圳市", "SCALE_51_TO_200", "CUST-1", "red"}
	got, err := read(t, "en.csv", []byte(csvText(table(en, row))), nil, admin)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.issues) != 0 || got.customers[2].Mobile != "13900000042" || got.customers[2].Address.Province != "广东省" {
		t.Fatalf("english header: %+v %+v", got.customers[2], got.issues)
	}
	if !slices.Equal(got.mapping.Ignored, []string{"Customer ID", "Favourite colour"}) {
		t.Fatalf("ignored = %v", got.mapping.Ignored)
	}

	// An explicit mapping names columns the names do not give away, and can ignore one.
	odd := []string{"公司", "类别", "行业", "对接人", "电话号码", "省", "市", "人数", "备注"}
	oddRow := []string{"南京测试有限公司", "企业", "C39", "赵敏", "13900000043", "江苏", "南京", "51-200", "内部备注"}
	mapping := map[string]string{"类别": "type", "对接人": "contact_name", "电话号码": "mobile", "人数": "scale", "备注": ""}
	got, err = read(t, "odd.csv", []byte(csvText(table(odd, oddRow))), mapping, admin)
	if err != nil {
		t.Fatal(err)
	}
	c := got.customers[2]
	if len(got.issues) != 0 || c.Type != customer.TypeEnterprise || c.ContactName != "赵敏" || c.Remarks != "" {
		t.Fatalf("explicit mapping: %+v %+v", c, got.issues)
	}
	if err := transfer.ValidateMapping(map[string]string{"x": "nonsense"}); err == nil {
		t.Fatal("unknown mapping target accepted")
	}
}

func TestRowIssues(t *testing.T) {
	t.Parallel()
	bad := zhRow(2)
	bad[1], bad[5], bad[13], bad[14] = "大客户", "12345", "12.345", "明年"
	enterpriseNoIndustry := zhRow(3)
	enterpriseNoIndustry[2] = ""
	got, err := read(t, "a.csv", encode(t, csvText(table(zhHeader, zhRow(1), bad, enterpriseNoIndustry)), transfer.EncodingGB18030), nil, admin)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		row            int
		column, reason string
	}
	var keys []key
	for _, is := range got.issues {
		keys = append(keys, key{is.Row, is.Column, is.Reason})
		if is.Message.ZH == "" || is.Message.EN == "" || is.Kind != transfer.KindError {
			t.Errorf("issue %+v", is)
		}
	}
	want := []key{
		{3, "客户类型*", validate.ReasonUnknownCode},
		{3, "年度预估合作金额", validate.ReasonInvalidFormat},
		{3, "首次接触时间", validate.ReasonInvalidFormat},
		{3, "联系方式（手机）*", validate.ReasonInvalidFormat},
		{4, "所属行业", validate.ReasonRequired},
	}
	slices.SortFunc(keys, func(a, b key) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	slices.SortFunc(want, func(a, b key) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	if !slices.Equal(keys, want) {
		t.Fatalf("issues\n got %v\nwant %v", keys, want)
	}
}

func TestOwnership(t *testing.T) {
	t.Parallel()
	header := append(slices.Clone(zhHeader), "负责人", "所属团队")
	rows := table(header, append(zhRow(1), "", ""), append(zhRow(2), "u-other", ""), append(zhRow(3), "", "west"))
	data := []byte(csvText(rows))
	cases := []struct {
		name string
		imp  transfer.Importer
		// owner/team of row 2 and the fields with issues per row.
		owner, team string
		issues      map[int]string
	}{
		{"sales owns", transfer.Importer{UserID: "u-s", TeamID: "east", Scope: transfer.ScopeOwn}, "u-s", "east",
			map[int]string{3: "owner_id", 4: "team_id"}},
		{"manager's team", transfer.Importer{UserID: "u-m", TeamID: "east", Scope: transfer.ScopeTeam, DefaultOwnerID: "u-s"}, "u-s", "east",
			map[int]string{4: "team_id"}},
		{"admin anywhere", transfer.Importer{UserID: "u-a", TeamID: "hq", Scope: transfer.ScopeAll, DefaultTeamID: "north"}, "u-a", "north",
			map[int]string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := read(t, "a.csv", data, nil, tc.imp)
			if err != nil {
				t.Fatal(err)
			}
			if c := got.customers[2]; c.OwnerID != tc.owner || c.TeamID != tc.team {
				t.Fatalf("row 2 owner %q team %q", c.OwnerID, c.TeamID)
			}
			issues := map[int]string{}
			for _, is := range got.issues {
				issues[is.Row] = is.Field
			}
			if fmt.Sprint(issues) != fmt.Sprint(tc.issues) {
				t.Fatalf("issues %v, want %v", issues, tc.issues)
			}
		})
	}
}

func TestValues(t *testing.T) {
	t.Parallel()
	header := []string{"客户名称", "客户类型", "联系人", "手机", "省份", "城市", "客户规模", "客户状态", "客户来源", "首次接触时间", "金额", "行业"}
	cases := []struct {
		cells []string
		check func(c *customer.Customer) bool
	}{
		{[]string{"张三丰", "个人客户", "张三", "13900000001", "北京", "北京市", "个人高端", "合作中", "展会", "2026年3月1日", "¥1,234.5", ""},
			func(c *customer.Customer) bool {
				return c.Type == customer.TypeIndividual && c.Scale == customer.ScaleIndividualPremium && c.Status == customer.StatusActive &&
					c.Source == customer.SourceExhibition && c.FirstContactDate.String() == "2026-03-01" && *c.AmountFen == 123450
			}},
		{[]string{"上海机构", "事业单位", "李四", "139 0000 0002", "上海", "上海市", "1000人以上", "CUSTOMER_STATUS_INTENTION", "inbound", "20260102", "1.2亿", "软件和信息技术服务业"},
			func(c *customer.Customer) bool {
				return c.Type == customer.TypeInstitution && c.Scale == customer.ScaleOver1000 && c.Status == customer.StatusIntention &&
					c.Source == customer.SourceInbound && c.FirstContactDate.String() == "2026-01-02" && *c.AmountFen == 12_000_000_000 && c.Industry == "I65"
			}},
		{[]string{"渠道", "代理商", "王五", "13900000003", "广东", "广州", "51人-200人", "", "", "2026/1/2 09:30", "", "I65 软件和信息技术服务业"},
			func(c *customer.Customer) bool {
				return c.Type == customer.TypeChannel && c.Scale == customer.Scale51To200 && c.Status == customer.StatusPotential &&
					c.FirstContactDate.String() == "2026-01-02" && c.Industry == "I65"
			}},
	}
	for i, tc := range cases {
		got, err := read(t, "v.csv", []byte(csvText(table(header, tc.cells))), nil, admin)
		if err != nil {
			t.Fatal(err)
		}
		if c := got.customers[2]; len(got.issues) != 0 || !tc.check(c) {
			t.Errorf("case %d: %+v %v issues %+v", i, c, c.FirstContactDate, got.issues)
		}
	}
}

func TestRowNumbersAsExcelShowsThem(t *testing.T) {
	t.Parallel()
	multi := zhRow(2)
	multi[15] = "第一行\n第二行"
	text := csvText(table(zhHeader, zhRow(1))) + "\r\n\r\n" + csvText(table(multi, zhRow(3)))
	got, err := read(t, "a.csv", []byte(text), nil, admin)
	if err != nil {
		t.Fatal(err)
	}
	var rows []int
	for r := range got.customers {
		rows = append(rows, r)
	}
	slices.Sort(rows)
	// Two blank lines are rows 3 and 4; the multi-line cell is one row (5).
	if !slices.Equal(rows, []int{2, 5, 6}) || got.customers[5].Remarks != "第一行\n第二行" {
		t.Fatalf("rows %v", rows)
	}
}

func TestDelimiters(t *testing.T) {
	t.Parallel()
	for _, d := range []string{"\t", ";"} {
		text := strings.Join(zhHeader, d) + "\n" + strings.Join(zhRow(1), d) + "\n"
		got, err := read(t, "a.txt", encode(t, text, transfer.EncodingUTF16LE), nil, admin)
		if err != nil || len(got.customers) != 1 || len(got.issues) != 0 {
			t.Fatalf("delimiter %q: %v %+v", d, err, got.issues)
		}
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	lim := transfer.Limits{MaxRows: 2, MaxUnzippedBytes: 1 << 30}
	data := []byte(csvText(table(zhHeader, zhRow(1), zhRow(2))))
	if _, err := transfer.ScanCSV(bytes.NewReader(data), lim); fileReason(err) != transfer.ReasonTooManyRows {
		t.Fatalf("too many rows: %v", err)
	}
	x := xlsxFile(t, table(zhHeader, zhRow(1)), nil)
	if _, err := transfer.ScanXLSX(x, "", transfer.Limits{MaxRows: 10, MaxUnzippedBytes: 100}); fileReason(err) != transfer.ReasonXLSXBroken {
		t.Fatalf("unzip limit: %v", err)
	}
	if _, err := transfer.ScanXLSX(x, "Other", transfer.DefaultLimits()); fileReason(err) != transfer.ReasonSheetNotFound {
		t.Fatalf("sheet: %v", err)
	}
}

func TestDuplicatesWithinFile(t *testing.T) {
	t.Parallel()
	seen := transfer.NewSeen()
	a := &customer.Customer{Name: "苏州星湖科技有限公司", Mobile: "13900000001"}
	b := &customer.Customer{Name: "苏州星湖科技有限责任公司", Mobile: "13900000002"}
	c := &customer.Customer{Name: "另一家公司", Mobile: "13900000001"}
	d := &customer.Customer{Name: "第四家公司", Mobile: "13900000004", Email: "x@example.com"}
	seen.Add(2, transfer.KeysOf(a))
	if row, field, ok := seen.Match(transfer.KeysOf(b)); !ok || row != 2 || field != "name" {
		t.Fatalf("folded name: %d %s %v", row, field, ok)
	}
	if row, field, ok := seen.Match(transfer.KeysOf(c)); !ok || row != 2 || field != "mobile" {
		t.Fatalf("mobile: %d %s %v", row, field, ok)
	}
	if _, _, ok := seen.Match(transfer.KeysOf(d)); ok {
		t.Fatal("distinct customer matched")
	}
}

// exportedCustomer is a stored customer with every exported field set, including ones that
// need neutralising.
func exportedCustomer(n int) *customer.Customer {
	amount := int64(123456)
	c := &customer.Customer{ID: fmt.Sprintf("CUST-20261123-%04d", n), Name: fmt.Sprintf("=HYPERLINK(\"x\")测试%d有限公司", n),
		Type: customer.TypeEnterprise, Industry: "I65", USCC: uscc(n), ContactName: "欧阳娜娜", ContactTitle: "-采购经理",
		Mobile: fmt.Sprintf("139%08d", n), Landline: "0512-66668888", Email: fmt.Sprintf("buyer%d@example.com", n),
		Address: customer.Address{Province: "江苏省", City: "苏州市", District: "工业园区", Street: "@星湖街328号"},
		Scale:   customer.Scale201To500, Status: customer.StatusActive, Source: customer.SourceReferral,
		FirstContactDate: &customer.Date{Year: 2025, Month: 5, Day: 6}, OwnerID: "u-sales1", TeamID: "east", AmountFen: &amount,
		Remarks: "+重点客户\n第二行", Level: "high", CreatedAt: now, UpdatedAt: now}
	return c
}

func TestExportRoundTrip(t *testing.T) {
	t.Parallel()
	for _, format := range []transfer.Format{transfer.FormatCSV, transfer.FormatXLSX} {
		for _, lang := range []string{"zh-CN", "en"} {
			t.Run(string(format)+"/"+lang, func(t *testing.T) {
				t.Parallel()
				var buf bytes.Buffer
				exp, err := transfer.NewExporter(&buf, format, lang, false)
				if err != nil {
					t.Fatal(err)
				}
				originals := map[int]*customer.Customer{}
				for i := 1; i <= 3; i++ {
					c := exportedCustomer(i)
					originals[i+1] = c
					if err := exp.Write(c); err != nil {
						t.Fatal(err)
					}
				}
				if err := exp.Close(); err != nil || exp.Rows() != 3 {
					t.Fatalf("close: %v rows %d", err, exp.Rows())
				}
				name := "export." + string(format)
				if format == transfer.FormatCSV && !bytes.HasPrefix(buf.Bytes(), []byte{0xEF, 0xBB, 0xBF}) {
					t.Fatal("CSV export without BOM")
				}
				got, err := read(t, name, buf.Bytes(), nil, transfer.Importer{UserID: "u-admin", TeamID: "hq", Scope: transfer.ScopeAll})
				if err != nil {
					t.Fatal(err)
				}
				if len(got.issues) != 0 {
					t.Fatalf("issues: %+v", got.issues)
				}
				if len(got.mapping.Ignored) != 5 {
					t.Errorf("ignored columns %v, want the 5 system columns", got.mapping.Ignored)
				}
				for row, want := range originals {
					back := got.customers[row]
					if diff := customer.Diff(want, back); len(diff) != 0 {
						t.Errorf("row %d differs after the round trip: %+v", row, diff)
					}
				}
			})
		}
	}
}

func TestExportNeutralisesAndMasks(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	exp, err := transfer.NewExporter(&buf, transfer.FormatCSV, "zh-CN", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Write(exportedCustomer(7)); err != nil {
		t.Fatal(err)
	}
	if err := exp.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(buf.Bytes()[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	row := map[string]string{}
	for i, h := range recs[0] {
		row[h] = recs[1][i]
	}
	want := map[string]string{
		"客户名称": "'=HYPERLINK(\"x\")测试7有限公司", "职位": "'-采购经理", "备注": "'+重点客户\n第二行", "详细地址": "",
		"联系方式(手机)": "139****0007", "联系人": "欧***", "电子邮箱": "b***@example.com", "客户类型": "企业客户", "客户状态": "合作中",
		"客户规模": "201-500人", "年度预估合作金额": "1234.56", "客户等级": "高", "建档日期": "2026-11-23 18:00:00",
	}
	for k, v := range want {
		if row[k] != v {
			t.Errorf("%s = %q, want %q", k, row[k], v)
		}
	}

	// XLSX: text cells are neutralised too, the amount is a number, and excelize reads the file.
	buf.Reset()
	exp, _ = transfer.NewExporter(&buf, transfer.FormatXLSX, "en", false)
	_ = exp.Write(exportedCustomer(8))
	if err := exp.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	rows, err := f.GetRows(sheets[0])
	if err != nil || len(rows) != 2 || sheets[0] != "Customers" {
		t.Fatalf("sheets %v rows %v %v", sheets, rows, err)
	}
	name, _ := f.GetCellValue(sheets[0], "B2")
	amount := sheet.ColumnLetters(slices.Index(rows[0], "Estimated annual amount")) + "2"
	typ, _ := f.GetCellType(sheets[0], amount)
	value, _ := f.GetCellValue(sheets[0], amount)
	if name != "'=HYPERLINK(\"x\")测试8有限公司" || value != "1234.56" || typ != excelize.CellTypeUnset {
		t.Fatalf("B2 %q, amount %s = %q type %v", name, amount, value, typ)
	}
}

func TestIssueReport(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	r, err := transfer.NewIssueReport(&buf, "zh-CN")
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Write(transfer.Issue{Row: 7, Column: "手机", Field: "mobile", Reason: "INVALID_FORMAT", Kind: transfer.KindError,
		Message: validate.Message{ZH: "联系方式格式错误", EN: "invalid mobile"}})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	want := "\ufeff行号,列,字段,错误代码,处理结果,说明\r\n7,手机,mobile,INVALID_FORMAT,未导入（错误）,联系方式格式错误\r\n"
	if buf.String() != want {
		t.Fatalf("report %q", buf.String())
	}
}

// TestLargeFilesKeepTheirEncoding crosses many read boundaries, where multi-byte characters are
// cut in two.
func TestLargeFilesKeepTheirEncoding(t *testing.T) {
	t.Parallel()
	rows := [][]string{zhHeader}
	for i := range 3000 {
		rows = append(rows, zhRow(i))
	}
	text := csvText(rows)
	for name, tc := range map[string]struct {
		text string
		enc  transfer.Encoding
	}{
		"utf-8": {text, transfer.EncodingUTF8}, "gb18030": {text, transfer.EncodingGB18030}, "utf-16": {text, transfer.EncodingUTF16LE},
	} {
		sc, err := transfer.ScanCSV(bytes.NewReader(encode(t, tc.text, tc.enc)), transfer.DefaultLimits())
		if err != nil || sc.Encoding != tc.enc || sc.Rows != 3001 {
			t.Errorf("%s: %+v %v", name, sc, err)
		}
	}
}

// TestMaskedExportDoesNotImport: a masked export imported again names each masked cell instead of
// storing asterisks or reporting a bare format error.
func TestMaskedExportDoesNotImport(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	exp, err := transfer.NewExporter(&buf, transfer.FormatCSV, "zh-CN", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Write(exportedCustomer(1)); err != nil {
		t.Fatal(err)
	}
	if err := exp.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := read(t, "masked.csv", buf.Bytes(), nil, transfer.Importer{UserID: "u-admin", TeamID: "hq", Scope: transfer.ScopeAll})
	if err != nil {
		t.Fatal(err)
	}
	masked := map[string]bool{}
	for _, is := range got.issues {
		if is.Reason == transfer.ReasonMaskedValue {
			masked[is.Field] = true
			if is.Row != 2 || !strings.Contains(is.Message.ZH, "脱敏") {
				t.Errorf("issue %+v", is)
			}
		}
	}
	if want := map[string]bool{"mobile": true, "contact_name": true, "landline": true, "email": true}; !maps.Equal(masked, want) {
		t.Fatalf("masked cells %v, want %v (issues %+v)", masked, want, got.issues)
	}
}
