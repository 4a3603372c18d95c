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

	"github.com/xuri/excelize/v2"
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
	name, sheetFile, err := findSheet(files, sheet)
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
// workbook, the workbook lists its sheets in order, the workbook's relationships name their parts.
func findSheet(files map[string]*zip.File, want string) (string, *zip.File, error) {
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
		return "", nil, err
	}
	workbook := ""
	for _, r := range root.Rels {
		if strings.HasSuffix(r.Type, "/officeDocument") {
			workbook = resolve("", r.Target)
		}
	}
	if workbook == "" {
		return "", nil, errBrokenXLSX("no workbook")
	}
	var wb struct {
		Sheets []struct {
			Name string     `xml:"name,attr"`
			Attr []xml.Attr `xml:",any,attr"`
		} `xml:"sheets>sheet"`
	}
	if err := readXML(workbook, &wb); err != nil {
		return "", nil, err
	}
	var wbRels rels
	if err := readXML(path.Join(path.Dir(workbook), "_rels", path.Base(workbook)+".rels"), &wbRels); err != nil {
		return "", nil, err
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
					return s.Name, f, nil
				}
			}
		}
		return "", nil, errBrokenXLSX("missing the part of sheet " + s.Name)
	}
	if want != "" {
		return "", nil, fileError(ReasonSheetNotFound, "工作簿中没有名为“"+want+"”的工作表", "the workbook has no sheet named \""+want+"\"")
	}
	return "", nil, errBrokenXLSX("no sheets")
}

// scanSheetXML reads worksheet XML as a stream of tags: <row> elements with a <v> or <is> child
// count as non-empty rows; <f> elements are formulas, reported at their cell.
func scanSheetXML(r io.Reader, lim Limits) (rows, nFormulas int, formulas []Issue, err error) {
	br := bufio.NewReaderSize(r, 256<<10)
	var tag []byte
	cell := ""
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
			if n, err := strconv.Atoi(attr(tag, "r")); err == nil {
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
			cell = attr(tag, "r")
		case name == "f" && !closing:
			nFormulas++
			if len(formulas) < maxFormulaIssues {
				col, row := splitCellRef(cell)
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
	end := bytes.IndexAny(tag, " \t\r\n/")
	if end < 0 {
		end = len(tag)
	}
	name := tag[:end]
	if i := bytes.IndexByte(name, ':'); i >= 0 {
		name = name[i+1:]
	}
	return string(name)
}

// attr returns the value of attribute key in a tag.
func attr(tag []byte, key string) string {
	for i := 0; ; {
		j := bytes.Index(tag[i:], []byte(key+`="`))
		if j < 0 {
			return ""
		}
		j += i
		if j > 0 && (tag[j-1] == ' ' || tag[j-1] == '\t' || tag[j-1] == '\n' || tag[j-1] == '\r') {
			start := j + len(key) + 2
			end := bytes.IndexByte(tag[start:], '"')
			if end < 0 {
				return ""
			}
			return string(tag[start : start+end])
		}
		i = j + 1
	}
}

// OpenXLSX returns a reader over the rows of a sheet of an XLSX file checked by ScanXLSX, through
// excelize's streaming row iterator. Cell values are raw: numbers as stored (a date is its serial
// number), text as typed.
func OpenXLSX(data []byte, sc Scan, lim Limits) (*Reader, error) {
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{UnzipSizeLimit: max(lim.MaxUnzippedBytes, excelize.StreamChunkSize)})
	if err != nil {
		return nil, errBrokenXLSX(shortError(err))
	}
	sheet := sc.Sheet
	if sheet == "" {
		if list := f.GetSheetList(); len(list) > 0 {
			sheet = list[0]
		}
	}
	rows, err := f.Rows(sheet)
	if err != nil {
		_ = f.Close()
		return nil, errBrokenXLSX(shortError(err))
	}
	n := 0
	raw := excelize.Options{RawCellValue: true}
	return &Reader{
		next: func() (int, []string, error) {
			if !rows.Next() {
				if err := rows.Error(); err != nil {
					return 0, nil, errBrokenXLSX(shortError(err))
				}
				return 0, nil, io.EOF
			}
			// The iterator visits every row number, also those without a <row> element.
			n++
			cells, err := rows.Columns(raw)
			if err != nil {
				return 0, nil, errBrokenXLSX(shortError(err))
			}
			return n, cells, nil
		},
		close: func() error { return errors.Join(rows.Close(), f.Close()) },
	}, nil
}
