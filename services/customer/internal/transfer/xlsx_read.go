package transfer

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"unicode/utf8"
)

// ScanXLSX checks a whole XLSX file once before anything is imported: it opens the archive,
// finds the sheet (sheet, or the first in workbook order), counts its non-empty rows and refuses
// cells with formulas. It reads the sheet's XML as a byte stream: excelize's row iterator gives
// values, not formulas, and reading every cell's formula through excelize would load the whole
// sheet into memory.
func ScanXLSX(data []byte, sheet string, lim Limits) (Scan, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return Scan{}, errBrokenXLSX(shortError(err))
	}
	files := make(map[string]*zip.File, len(zr.File))
	var unzipped uint64
	for _, f := range zr.File {
		files[f.Name] = f
		unzipped += f.UncompressedSize64
	}
	if lim.MaxUnzippedBytes > 0 && unzipped > uint64(lim.MaxUnzippedBytes) {
		return Scan{}, errBrokenXLSX(fmt.Sprintf("unpacks to more than %d MiB", lim.MaxUnzippedBytes>>20))
	}
	name, sheetFile, _, err := findSheet(files, sheet)
	if err != nil {
		return Scan{}, err
	}
	rc, err := sheetFile.Open()
	if err != nil {
		return Scan{}, errBrokenXLSX(shortError(err))
	}
	defer rc.Close()
	rows, nFormulas, formulas, err := scanSheetXML(rc, lim)
	if err != nil {
		return Scan{}, err
	}
	if rows == 0 {
		return Scan{}, errEmpty()
	}
	if nFormulas > 0 {
		return Scan{}, formulaError(nFormulas, formulas)
	}
	return Scan{Format: FormatXLSX, Sheet: name, Rows: rows}, nil
}

func shortError(err error) string {
	s := err.Error()
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// findSheet resolves a sheet's part through the package relationships: _rels/.rels names the
// workbook, the workbook lists its sheets in order, the workbook's relationships name their parts
// and the shared strings part (nil when the workbook has none).
func findSheet(files map[string]*zip.File, want string) (name string, sheet, sharedStrings *zip.File, err error) {
	type rel struct {
		ID     string `xml:"Id,attr"`
		Type   string `xml:"Type,attr"`
		Target string `xml:"Target,attr"`
	}
	type rels struct {
		Rels []rel `xml:"Relationship"`
	}
	readXML := func(name string, v any) error {
		f := files[name]
		if f == nil {
			return errBrokenXLSX("missing " + name)
		}
		rc, err := f.Open()
		if err != nil {
			return errBrokenXLSX(shortError(err))
		}
		defer rc.Close()
		if err := xml.NewDecoder(io.LimitReader(rc, 16<<20)).Decode(v); err != nil {
			return errBrokenXLSX(name + ": " + shortError(err))
		}
		return nil
	}
	resolve := func(base, target string) string {
		if strings.HasPrefix(target, "/") {
			return strings.TrimPrefix(target, "/")
		}
		return path.Join(path.Dir(base), target)
	}

	var root rels
	if err := readXML("_rels/.rels", &root); err != nil {
		return "", nil, nil, err
	}
	workbook := ""
	for _, r := range root.Rels {
		if strings.HasSuffix(r.Type, "/officeDocument") {
			workbook = resolve("", r.Target)
		}
	}
	if workbook == "" {
		return "", nil, nil, errBrokenXLSX("no workbook")
	}
	var wb struct {
		Sheets []struct {
			Name string     `xml:"name,attr"`
			Attr []xml.Attr `xml:",any,attr"`
		} `xml:"sheets>sheet"`
	}
	if err := readXML(workbook, &wb); err != nil {
		return "", nil, nil, err
	}
	var wbRels rels
	if err := readXML(path.Join(path.Dir(workbook), "_rels", path.Base(workbook)+".rels"), &wbRels); err != nil {
		return "", nil, nil, err
	}
	for _, r := range wbRels.Rels {
		if strings.HasSuffix(r.Type, "/sharedStrings") {
			sharedStrings = files[resolve(workbook, r.Target)]
		}
	}
	for _, s := range wb.Sheets {
		if want != "" && s.Name != want {
			continue
		}
		id := ""
		for _, a := range s.Attr {
			if a.Name.Local == "id" {
				id = a.Value
			}
		}
		for _, r := range wbRels.Rels {
			if r.ID == id {
				if f := files[resolve(workbook, r.Target)]; f != nil {
					return s.Name, f, sharedStrings, nil
				}
			}
		}
		return "", nil, nil, errBrokenXLSX("missing the part of sheet " + s.Name)
	}
	if want != "" {
		return "", nil, nil, fileError(ReasonSheetNotFound, "工作簿中没有名为“"+want+"”的工作表", "the workbook has no sheet named \""+want+"\"")
	}
	return "", nil, nil, errBrokenXLSX("no sheets")
}

// scanSheetXML reads worksheet XML as a stream of tags: <row> elements with a <v> or <is> child
// count as non-empty rows; <f> elements are formulas, reported at their cell.
func scanSheetXML(r io.Reader, lim Limits) (rows, nFormulas int, formulas []Issue, err error) {
	br := bufio.NewReaderSize(r, 256<<10)
	var tag, cell []byte
	rowNum, hasValue := 0, false
	for {
		if err := skipTo(br, '<'); err != nil {
			if errors.Is(err, io.EOF) {
				return rows, nFormulas, formulas, nil
			}
			return 0, 0, nil, errBrokenXLSX(shortError(err))
		}
		if tag, err = readTag(br, tag[:0]); err != nil {
			return 0, 0, nil, errBrokenXLSX(shortError(err))
		}
		closing := len(tag) > 0 && tag[0] == '/'
		name := tagName(tag)
		switch {
		case name == "row" && !closing:
			hasValue = false
			if n, err := strconv.Atoi(string(attrBytes(tag, "r"))); err == nil {
				rowNum = n
			} else {
				rowNum++
			}
		case name == "row" && closing:
			if hasValue {
				rows++
				if rows > lim.MaxRows {
					return 0, 0, nil, tooManyRows(lim)
				}
			}
		case name == "c" && !closing:
			cell = append(cell[:0], attrBytes(tag, "r")...) // tag's bytes are reused
		case name == "f" && !closing:
			nFormulas++
			if len(formulas) < maxFormulaIssues {
				col, row := splitCellRef(string(cell))
				if row == 0 {
					row = rowNum
				}
				formulas = append(formulas, formulaIssue(row, col))
			}
		case (name == "v" || name == "is") && !closing:
			hasValue = true
		}
	}
}

// skipTo discards input up to and including the next c.
func skipTo(br *bufio.Reader, c byte) error {
	for {
		_, err := br.ReadSlice(c)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}

// readTag returns the bytes of a tag up to (not including) '>', appended to buf.
func readTag(br *bufio.Reader, buf []byte) ([]byte, error) {
	for {
		b, err := br.ReadSlice('>')
		buf = append(buf, b...)
		switch {
		case err == nil:
			return buf[:len(buf)-1], nil
		case !errors.Is(err, bufio.ErrBufferFull):
			return nil, err
		}
	}
}

// tagName returns a tag's local name without a leading '/' or namespace prefix.
func tagName(tag []byte) string {
	tag = bytes.TrimPrefix(tag, []byte("/"))
	end := len(tag)
	for i, c := range tag {
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '/' {
			end = i
			break
		}
	}
	name := tag[:end]
	if i := bytes.IndexByte(name, ':'); i >= 0 {
		name = name[i+1:]
	}
	return intern(name, cellTagNames)
}

// The names and types of a sheet's cells, of which a sheet has millions: intern gives them
// without allocating.
var (
	cellTagNames = []string{"row", "c", "v", "f", "is", "t", "r", "rPh"}
	cellTypes    = []string{"", "s", "n", "str", "inlineStr", "b", "e", "d"}
)

// intern returns b as a string, the one of known without allocating when b is one of them.
func intern(b []byte, known []string) string {
	for _, k := range known {
		if string(b) == k {
			return k
		}
	}
	return string(b)
}

// attrBytes returns the value of attribute key in a tag: its bytes within tag, nil when absent.
func attrBytes(tag []byte, key string) []byte {
	for i := 0; ; {
		j := bytes.Index(tag[i:], []byte(key+`="`))
		if j < 0 {
			return nil
		}
		j += i
		if j > 0 && (tag[j-1] == ' ' || tag[j-1] == '\t' || tag[j-1] == '\n' || tag[j-1] == '\r') {
			start := j + len(key) + 2
			end := bytes.IndexByte(tag[start:], '"')
			if end < 0 {
				return nil
			}
			return tag[start : start+end]
		}
		i = j + 1
	}
}

// refColumn is the column number of a cell reference such as AB12; 0 when it has none.
func refColumn(ref []byte) int {
	i := 0
	for i < len(ref) && (ref[i] < '0' || ref[i] > '9') {
		i++
	}
	if i == 0 {
		return 0
	}
	return columnNumber(string(ref[:i]))
}

// OpenXLSX returns a reader over the rows of a sheet of an XLSX file checked by ScanXLSX. Cell
// values are raw, as excelize's RawCellValue gives them: shared and inline strings as their text,
// everything else as stored (a number as written, a date as its serial number, a boolean as 0 or
// 1). The sheet's XML is streamed with the tag scanner of ScanXLSX: excelize's row iterator
// decoded every element through encoding/xml, about 100 µs a row, which made parsing the file the
// slowest step of an XLSX import.
func OpenXLSX(data []byte, sc Scan) (*Reader, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, errBrokenXLSX(shortError(err))
	}
	files := make(map[string]*zip.File, len(zr.File))
	for _, f := range zr.File {
		files[f.Name] = f
	}
	_, sheetFile, sstFile, err := findSheet(files, sc.Sheet)
	if err != nil {
		return nil, err
	}
	var sst []string
	if sstFile != nil {
		if sst, err = readSharedStrings(sstFile); err != nil {
			return nil, err
		}
	}
	rc, err := sheetFile.Open()
	if err != nil {
		return nil, errBrokenXLSX(shortError(err))
	}
	sr := &sheetReader{x: xmlScanner{br: bufio.NewReaderSize(rc, 256<<10)}, sst: sst}
	return &Reader{next: sr.next, close: rc.Close}, nil
}

// xmlScanner reads XML as a sequence of tags, each with the text before it.
type xmlScanner struct {
	br   *bufio.Reader
	tag  []byte
	text []byte
}

// next returns the next tag (without '<' and '>') and, when keepText, the raw text before it.
func (x *xmlScanner) next(keepText bool) (tag, text []byte, err error) {
	x.text = x.text[:0]
	for {
		b, err := x.br.ReadSlice('<')
		if keepText {
			x.text = append(x.text, b...)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, nil, err
		}
	}
	if keepText {
		x.text = x.text[:len(x.text)-1]
	}
	if x.tag, err = readTag(x.br, x.tag[:0]); err != nil {
		return nil, nil, err
	}
	return x.tag, x.text, nil
}

// readSharedStrings reads the shared strings table: each <si> is the text of its <t> elements
// (rich text runs joined, phonetic guides left out).
func readSharedStrings(f *zip.File) ([]string, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, errBrokenXLSX(shortError(err))
	}
	defer rc.Close()
	x := xmlScanner{br: bufio.NewReaderSize(rc, 256<<10)}
	var out []string
	var si strings.Builder
	inT, inPhonetic := false, false
	for {
		tag, text, err := x.next(inT)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, errBrokenXLSX(shortError(err))
		}
		closing, empty := len(tag) > 0 && tag[0] == '/', len(tag) > 0 && tag[len(tag)-1] == '/'
		switch name := tagName(tag); {
		case name == "si" && !closing:
			si.Reset()
			if empty {
				out = append(out, "")
			}
		case name == "si":
			out = append(out, unescapeBSTR(si.String()))
		case name == "rPh":
			inPhonetic = !closing && !empty
		case name == "t" && closing:
			if !inPhonetic {
				si.WriteString(xmlText(text))
			}
			inT = false
		case name == "t":
			inT = !empty
		}
	}
}

// sheetReader yields the rows of a worksheet's XML.
type sheetReader struct {
	x     xmlScanner
	sst   []string
	row   int
	cells []string
}

// next returns the next <row> element's number and cell values; cells are valid until the next
// call.
func (s *sheetReader) next() (int, []string, error) {
	s.cells = s.cells[:0]
	col := 0
	typ, value := "", ""
	var inline strings.Builder
	inV, inT, inInline, inPhonetic := false, false, false, false
	for {
		tag, text, err := s.x.next(inV || inT)
		if errors.Is(err, io.EOF) {
			return 0, nil, io.EOF
		}
		if err != nil {
			return 0, nil, errBrokenXLSX(shortError(err))
		}
		closing, empty := len(tag) > 0 && tag[0] == '/', len(tag) > 0 && tag[len(tag)-1] == '/'
		switch name := tagName(tag); {
		case name == "row" && !closing:
			if n, err := strconv.Atoi(string(attrBytes(tag, "r"))); err == nil {
				s.row = n
			} else {
				s.row++
			}
			if empty {
				return s.row, s.cells, nil
			}
		case name == "row":
			return s.row, s.cells, nil
		case name == "c" && !closing:
			col++
			if n := refColumn(attrBytes(tag, "r")); n > 0 {
				col = n
			}
			typ, value = intern(attrBytes(tag, "t"), cellTypes), ""
			inline.Reset()
			inInline = false
		case name == "c":
			v, err := s.cellValue(typ, value, inInline, inline.String())
			if err != nil {
				return 0, nil, err
			}
			if v != "" {
				for len(s.cells) < col {
					s.cells = append(s.cells, "")
				}
				s.cells[col-1] = v
			}
		case name == "v" && closing:
			value, inV = xmlText(text), false
		case name == "v":
			inV = !empty
		case name == "is":
			inInline = inInline || !closing
		case name == "rPh":
			inPhonetic = !closing && !empty
		case name == "t" && closing:
			if !inPhonetic {
				inline.WriteString(xmlText(text))
			}
			inT = false
		case name == "t":
			inT = !empty
		}
	}
}

// cellValue is a cell's raw value by its type attribute.
func (s *sheetReader) cellValue(cellType, value string, hasInline bool, inline string) (string, error) {
	switch cellType {
	case "s":
		if value == "" {
			return "", nil
		}
		i, err := strconv.Atoi(strings.TrimSpace(value))
		if err != nil || i < 0 || i >= len(s.sst) {
			return "", errBrokenXLSX(fmt.Sprintf("row %d: shared string %q does not exist", s.row, value))
		}
		return s.sst[i], nil
	case "inlineStr":
		if hasInline {
			return unescapeBSTR(inline), nil
		}
	}
	return value, nil
}

// columnNumber turns column letters into a 1-based number (A → 1, AB → 28); 0 if not letters.
func columnNumber(letters string) int {
	n := 0
	for _, r := range letters {
		switch {
		case r >= 'A' && r <= 'Z':
			n = n*26 + int(r-'A') + 1
		case r >= 'a' && r <= 'z':
			n = n*26 + int(r-'a') + 1
		default:
			return 0
		}
		if n > 1<<14 {
			return 0
		}
	}
	return n
}

// xmlText decodes character data as an XML parser does: line ends become \n, then the five
// named entities and character references are resolved.
func xmlText(b []byte) string {
	if bytes.IndexByte(b, '&') < 0 && bytes.IndexByte(b, '\r') < 0 {
		return string(b)
	}
	if bytes.IndexByte(b, '\r') >= 0 {
		b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
		b = bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))
	}
	var out strings.Builder
	out.Grow(len(b))
	for len(b) > 0 {
		i := bytes.IndexByte(b, '&')
		if i < 0 {
			out.Write(b)
			break
		}
		out.Write(b[:i])
		b = b[i:]
		end := bytes.IndexByte(b, ';')
		if end < 0 {
			out.Write(b)
			break
		}
		if r, ok := xmlEntity(string(b[1:end])); ok {
			out.WriteRune(r)
		} else {
			out.Write(b[:end+1])
		}
		b = b[end+1:]
	}
	return out.String()
}

func xmlEntity(name string) (rune, bool) {
	switch name {
	case "lt":
		return '<', true
	case "gt":
		return '>', true
	case "amp":
		return '&', true
	case "quot":
		return '"', true
	case "apos":
		return '\'', true
	}
	if num, ok := strings.CutPrefix(name, "#"); ok {
		base := 10
		if hex, ok := strings.CutPrefix(num, "x"); ok {
			num, base = hex, 16
		}
		if n, err := strconv.ParseUint(num, base, 32); err == nil && utf8.ValidRune(rune(n)) {
			return rune(n), true
		}
	}
	return 0, false
}

// unescapeBSTR decodes the _xHHHH_ escapes with which XLSX stores characters XML cannot hold
// (_x000D_ for a carriage return, _x005F_ for a literal underscore), as excelize does; an escape
// of half a surrogate pair is dropped.
func unescapeBSTR(s string) string {
	if !strings.Contains(s, "_x") {
		return s
	}
	var out strings.Builder
	for {
		i := strings.Index(s, "_x")
		if i < 0 || len(s) < i+7 {
			out.WriteString(s)
			return out.String()
		}
		n, err := strconv.ParseUint(s[i+2:i+6], 16, 16)
		if err != nil || s[i+6] != '_' {
			out.WriteString(s[:i+1])
			s = s[i+1:]
			continue
		}
		out.WriteString(s[:i])
		if r := rune(n); utf8.ValidRune(r) {
			out.WriteRune(r)
		}
		s = s[i+7:]
	}
}
