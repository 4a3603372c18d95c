package transfer

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"

	"github.com/crmsuite/crm/pkg/sheet"
	"github.com/crmsuite/crm/pkg/validate"
)

// Limits bound what a file may hold.
type Limits struct {
	// MaxRows is the most non-empty rows (header included) a file may have.
	MaxRows int
	// MaxUnzippedBytes is the most an XLSX file may unpack to (zip bombs).
	MaxUnzippedBytes int64
}

// DefaultLimits allow a million data rows and 2 GiB of unpacked XLSX.
func DefaultLimits() Limits { return Limits{MaxRows: 1_000_001, MaxUnzippedBytes: 2 << 30} }

// maxFormulaIssues caps the cells listed when a file is refused for formulas.
const maxFormulaIssues = 100

// Scan is what a first pass over a whole file learned, before anything is imported.
type Scan struct {
	Format Format
	// Encoding and Delimiter are those of a CSV file.
	Encoding  Encoding
	Delimiter rune
	// Sheet is the XLSX sheet that is imported.
	Sheet string
	// Rows counts the non-empty rows, header and title rows included.
	Rows int
}

// DetectFormat tells the format of a file from its first bytes, falling back to the name's
// extension; hint, when not empty, is what the uploader said.
func DetectFormat(name string, head []byte, hint Format) (Format, error) {
	ext := strings.ToLower(path.Ext(name))
	switch {
	case bytes.HasPrefix(head, []byte{0xD0, 0xCF, 0x11, 0xE0}):
		// The OLE2 container of Excel 97–2003 .xls files.
		return "", fileError(ReasonXLSUnsupported, "不支持旧版 Excel（.xls）文件，请另存为 .xlsx 或 CSV UTF-8 后上传",
			"old Excel files (.xls) are not supported: save the file as .xlsx or CSV UTF-8 and upload it again")
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return FormatXLSX, nil
	case hint == FormatXLSX || ext == ".xlsx" || ext == ".xlsm":
		return "", errBrokenXLSX("not a zip archive")
	}
	return FormatCSV, nil
}

func errBrokenXLSX(detail string) *FileError {
	return fileError(ReasonXLSXBroken, "XLSX 文件已损坏或不是有效的 Excel 文件（"+detail+"）；请用 Excel 重新保存后上传",
		"the XLSX file is damaged or not an Excel workbook ("+detail+"); save it again in Excel and upload it")
}

// Reader yields the rows of a file as text cells, with their row numbers as the user sees them.
type Reader struct {
	next  func() (row int, cells []string, err error)
	close func() error
}

// Next returns the next row; io.EOF after the last. cells are valid until the next call.
func (r *Reader) Next() (row int, cells []string, err error) { return r.next() }

// Close releases the reader's resources.
func (r *Reader) Close() error {
	if r.close == nil {
		return nil
	}
	return r.close()
}

// blank reports whether a row has no content.
func blank(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// rowNumbers turns CSV records into row numbers as a spreadsheet shows them: blank lines count as
// rows, a quoted cell spanning lines does not add rows.
type rowNumbers struct{ lastRow, lastEndLine int }

func (n *rowNumbers) next(startLine int, rec []string) int {
	row := n.lastRow + startLine - n.lastEndLine
	lines := 0
	for _, f := range rec {
		lines += strings.Count(f, "\n")
	}
	n.lastRow, n.lastEndLine = row, startLine+lines
	return row
}

// sniffDelimiter picks the separator of a CSV file from its first line: comma, tab (Excel's
// "Unicode text") or semicolon (European Excel), whichever occurs most outside quotes.
func sniffDelimiter(head []byte) rune {
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		head = head[:i]
	}
	counts := map[byte]int{}
	quoted := false
	for _, b := range head {
		switch {
		case b == '"':
			quoted = !quoted
		case !quoted && (b == ',' || b == '\t' || b == ';'):
			counts[b]++
		}
	}
	best := byte(',')
	for _, b := range []byte{'\t', ';'} {
		if counts[b] > counts[best] {
			best = b
		}
	}
	return rune(best)
}

// newCSV returns a CSV parser over text.
func newCSV(r io.Reader, delim rune) *csv.Reader {
	cr := csv.NewReader(r)
	cr.Comma = delim
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	return cr
}

func csvError(err error) *FileError {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fileError(ReasonCSVMalformed,
			fmt.Sprintf("CSV 格式错误：第 %d 行第 %d 列附近引号不匹配或多余（%v）", pe.Line, pe.Column, pe.Err),
			fmt.Sprintf("malformed CSV near line %d, column %d: %v", pe.Line, pe.Column, pe.Err))
	}
	return fileError(ReasonCSVMalformed, "无法读取 CSV 文件："+err.Error(), "cannot read the CSV file: "+err.Error())
}

// ScanCSV reads a whole CSV file once: it detects the encoding (a byte-order mark, else UTF-8 if
// every byte is valid UTF-8, else GB18030 if every byte is valid GB18030), the delimiter, counts
// the non-empty rows and refuses cells that hold formulas (a leading =). It returns a *FileError
// for a file that must not be imported. The file's structure (separators, quotes, line ends) is
// ASCII in all these encodings, so one parse of the raw bytes serves every candidate.
func ScanCSV(r io.Reader, lim Limits) (Scan, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(4)
	enc, n := bomEncoding(head)
	if _, err := br.Discard(n); err != nil {
		return Scan{}, err
	}
	var det *detector
	var src io.Reader = br
	switch enc {
	case EncodingUTF16LE, EncodingUTF16BE:
		src = transform.NewReader(br, utf16Decoder(enc))
	default:
		// Without a mark the bytes decide; with a UTF-8 mark they must still be valid UTF-8.
		det = &detector{}
		src = io.TeeReader(br, det)
	}
	text := bufio.NewReaderSize(src, 64<<10)
	first, _ := text.Peek(64 << 10)
	delim := sniffDelimiter(first)

	cr := newCSV(text, delim)
	var rows rowNumbers
	var formulas []Issue
	nFormulas, count := 0, 0
	var parseErr error
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			parseErr = err
			break
		}
		line, _ := cr.FieldPos(0)
		row := rows.next(line, rec)
		if blank(rec) {
			continue
		}
		count++
		if count > lim.MaxRows {
			return Scan{}, tooManyRows(lim)
		}
		for i, cell := range rec {
			if isFormula(cell) {
				nFormulas++
				if len(formulas) < maxFormulaIssues {
					formulas = append(formulas, formulaIssue(row, sheet.ColumnLetters(i)))
				}
			}
		}
	}
	if det != nil {
		// Read what the parser left, so that the encoding verdict covers every byte.
		if _, err := io.Copy(io.Discard, text); err != nil {
			return Scan{}, err
		}
		detected, err := det.result()
		switch {
		case err != nil:
			return Scan{}, err
		case enc == EncodingUTF8BOM && detected != EncodingUTF8:
			return Scan{}, errBadUTF8()
		case enc == "":
			enc = detected
		}
	}
	if parseErr != nil {
		return Scan{}, csvError(parseErr)
	}
	if count == 0 {
		return Scan{}, errEmpty()
	}
	if nFormulas > 0 {
		return Scan{}, formulaError(nFormulas, formulas)
	}
	return Scan{Format: FormatCSV, Encoding: enc, Delimiter: delim, Rows: count}, nil
}

// utf16Decoder decodes UTF-16 whose byte-order mark has already been read.
func utf16Decoder(enc Encoding) transform.Transformer {
	order := unicode.LittleEndian
	if enc == EncodingUTF16BE {
		order = unicode.BigEndian
	}
	return unicode.UTF16(order, unicode.IgnoreBOM).NewDecoder()
}

func errEmpty() *FileError {
	return fileError(ReasonFileEmpty, "文件中没有数据", "the file holds no data")
}

func tooManyRows(lim Limits) *FileError {
	return fileError(ReasonTooManyRows,
		fmt.Sprintf("文件行数超过上限（%d 行），请拆分后分批导入", lim.MaxRows-1),
		fmt.Sprintf("the file has more than %d rows: split it and import the parts one by one", lim.MaxRows-1))
}

// isFormula reports whether a CSV cell would be a formula when opened in a spreadsheet. Cells
// that an export neutralised ('=…) are plain text.
func isFormula(cell string) bool {
	return strings.HasPrefix(strings.TrimLeft(cell, " "), "=")
}

func formulaIssue(row int, column string) Issue {
	return Issue{Row: row, Column: column, Reason: ReasonFormula, Kind: KindError, Message: formulaCellMessage(column, row)}
}

func formulaCellMessage(column string, row int) validate.Message {
	return validate.Message{
		ZH: fmt.Sprintf("单元格 %s%d 含有公式，不允许导入公式", column, row),
		EN: fmt.Sprintf("cell %s%d holds a formula; formulas are not imported", column, row),
	}
}

func formulaError(n int, issues []Issue) *FileError {
	e := fileError(ReasonFormula,
		fmt.Sprintf("文件中有 %d 个单元格含有公式，未导入任何数据；请将公式转换为数值（复制后“选择性粘贴 → 数值”）再上传", n),
		fmt.Sprintf("%d cells hold formulas, so nothing was imported; replace the formulas by their values (copy, then Paste Special → Values) and upload again", n))
	e.Issues = issues
	return e
}

// OpenCSV returns a reader over the rows of a CSV file scanned by ScanCSV.
func OpenCSV(r io.Reader, sc Scan) (*Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(4)
	_, n := bomEncoding(head)
	if _, err := br.Discard(n); err != nil {
		return nil, err
	}
	var src io.Reader = br
	switch sc.Encoding {
	case EncodingGB18030:
		src = transform.NewReader(br, simplifiedchinese.GB18030.NewDecoder())
	case EncodingUTF16LE, EncodingUTF16BE:
		src = transform.NewReader(br, utf16Decoder(sc.Encoding))
	}
	delim := sc.Delimiter
	if delim == 0 {
		delim = ','
	}
	cr := newCSV(src, delim)
	var rows rowNumbers
	return &Reader{next: func() (int, []string, error) {
		rec, err := cr.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, nil, io.EOF
			}
			return 0, nil, csvError(err)
		}
		line, _ := cr.FieldPos(0)
		return rows.next(line, rec), rec, nil
	}}, nil
}

// splitCellRef splits "AB12" into "AB" and 12.
func splitCellRef(ref string) (string, int) {
	i := strings.IndexFunc(ref, func(r rune) bool { return r >= '0' && r <= '9' })
	if i <= 0 {
		return ref, 0
	}
	n, _ := strconv.Atoi(ref[i:])
	return ref[:i], n
}
