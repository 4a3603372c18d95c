package sheet

import (
	"archive/zip"
	"bufio"
	"compress/flate"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxSheetRows is the row limit of an Excel worksheet; longer exports continue on the next sheet.
const maxSheetRows = 1 << 20

// xlsxWriter writes a workbook straight onto an io.Writer: each sheet's XML is compressed into the
// zip as rows arrive (inline strings, no shared-string table), and the small workbook parts that
// list the sheets follow at the end. excelize's StreamWriter instead buffers a whole sheet in a
// temporary file until the workbook is saved, so a download could not start before the last row;
// here the first bytes leave with the first rows and memory stays flat.
type xlsxWriter struct {
	zw        *zip.Writer
	sheet     *bufio.Writer
	sheetName string
	sheets    int
	rows      int // rows in the current sheet
	header    []string
	refs      []string // column letters, cached
	err       error
}

func newXLSXWriter(w io.Writer, sheetName string) *xlsxWriter {
	if sheetName == "" {
		sheetName = "Sheet"
	}
	zw := zip.NewWriter(w)
	// Sheet XML is repetitive and compresses well even at the fastest level, which is several
	// times faster than the default: compression was most of the cost of an XLSX export.
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestSpeed)
	})
	return &xlsxWriter{zw: zw, sheetName: sheetName}
}

const sheetHead = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" +
	`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">` +
	`<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>` +
	`<sheetData>`

const sheetTail = `</sheetData></worksheet>`

func (x *xlsxWriter) startSheet() error {
	if err := x.endSheet(); err != nil {
		return err
	}
	x.sheets++
	w, err := x.zw.Create(fmt.Sprintf("xl/worksheets/sheet%d.xml", x.sheets))
	if err != nil {
		return err
	}
	x.sheet = bufio.NewWriterSize(w, 32<<10)
	x.rows = 0
	if _, err := x.sheet.WriteString(sheetHead); err != nil {
		return err
	}
	if x.header != nil {
		return x.writeRow(x.header, nil, true)
	}
	return nil
}

func (x *xlsxWriter) endSheet() error {
	if x.sheet == nil {
		return nil
	}
	if _, err := x.sheet.WriteString(sheetTail); err != nil {
		return err
	}
	err := x.sheet.Flush()
	x.sheet = nil
	return err
}

func (x *xlsxWriter) write(cells []string, numeric []bool) error {
	if x.err != nil {
		return x.err
	}
	first := x.header == nil
	if first {
		x.header = append([]string(nil), cells...)
	}
	if x.sheet == nil || x.rows >= maxSheetRows {
		if x.err = x.startSheet(); x.err != nil {
			return x.err
		}
		if first {
			// startSheet wrote the header already.
			return nil
		}
	}
	x.err = x.writeRow(cells, numeric, first)
	return x.err
}

func (x *xlsxWriter) ref(col int) string {
	for len(x.refs) <= col {
		x.refs = append(x.refs, ColumnLetters(len(x.refs)))
	}
	return x.refs[col]
}

func (x *xlsxWriter) writeRow(cells []string, numeric []bool, header bool) error {
	x.rows++
	w := x.sheet
	r := strconv.Itoa(x.rows)
	w.WriteString(`<row r="`)
	w.WriteString(r)
	w.WriteString(`">`)
	for i, c := range cells {
		if c == "" {
			continue
		}
		w.WriteString(`<c r="`)
		w.WriteString(x.ref(i))
		w.WriteString(r)
		if header {
			// Style 1 is bold (styles.xml).
			w.WriteString(`" s="1`)
		}
		if !header && i < len(numeric) && numeric[i] && isNumber(c) {
			w.WriteString(`"><v>`)
			w.WriteString(c)
			w.WriteString(`</v></c>`)
			continue
		}
		if strings.TrimSpace(c) != c || strings.ContainsAny(c, "\n\t") {
			w.WriteString(`" t="inlineStr"><is><t xml:space="preserve">`)
		} else {
			w.WriteString(`" t="inlineStr"><is><t>`)
		}
		writeXMLText(w, c)
		w.WriteString(`</t></is></c>`)
	}
	_, err := w.WriteString(`</row>`)
	return err
}

// writeXMLText escapes text for XML and drops characters XML cannot hold (control characters
// other than tab, newline and carriage return).
func writeXMLText(w *bufio.Writer, s string) {
	last := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var esc string
		switch {
		case r == '&':
			esc = "&amp;"
		case r == '<':
			esc = "&lt;"
		case r == '>':
			esc = "&gt;"
		case r == '\r':
			esc = "&#13;"
		case r == utf8.RuneError && size == 1, r < 0x20 && r != '\t' && r != '\n', r == 0xFFFE, r == 0xFFFF:
			esc = ""
		default:
			i += size
			continue
		}
		w.WriteString(s[last:i])
		w.WriteString(esc)
		i += size
		last = i
	}
	w.WriteString(s[last:])
}

func (x *xlsxWriter) close() error {
	if x.err != nil {
		return x.err
	}
	if x.sheets == 0 {
		if err := x.startSheet(); err != nil {
			return err
		}
	}
	if err := x.endSheet(); err != nil {
		return err
	}
	parts := []struct{ name, body string }{
		{"[Content_Types].xml", x.contentTypes()},
		{"_rels/.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" +
			`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>` +
			`</Relationships>`},
		{"xl/workbook.xml", x.workbook()},
		{"xl/_rels/workbook.xml.rels", x.workbookRels()},
		{"xl/styles.xml", stylesXML},
	}
	for _, p := range parts {
		w, err := x.zw.Create(p.name)
		if err != nil {
			return err
		}
		if _, err := io.WriteString(w, p.body); err != nil {
			return err
		}
	}
	return x.zw.Close()
}

func (x *xlsxWriter) sheetTitle(i int) string {
	if x.sheets == 1 {
		return x.sheetName
	}
	return fmt.Sprintf("%s %d", x.sheetName, i)
}

func (x *xlsxWriter) contentTypes() string {
	s := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" +
		`<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
		`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
		`<Default Extension="xml" ContentType="application/xml"/>` +
		`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>` +
		`<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>`
	for i := 1; i <= x.sheets; i++ {
		s += fmt.Sprintf(`<Override PartName="/xl/worksheets/sheet%d.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>`, i)
	}
	return s + `</Types>`
}

func (x *xlsxWriter) workbook() string {
	s := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" +
		`<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>`
	for i := 1; i <= x.sheets; i++ {
		s += fmt.Sprintf(`<sheet name="%s" sheetId="%d" r:id="rId%d"/>`, xmlAttr(x.sheetTitle(i)), i, i)
	}
	return s + `</sheets></workbook>`
}

func (x *xlsxWriter) workbookRels() string {
	s := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" +
		`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`
	for i := 1; i <= x.sheets; i++ {
		s += fmt.Sprintf(`<Relationship Id="rId%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet%d.xml"/>`, i, i)
	}
	return s + fmt.Sprintf(`<Relationship Id="rId%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>`, x.sheets+1) +
		`</Relationships>`
}

// xmlAttr escapes an attribute value.
func xmlAttr(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		switch r {
		case '&':
			out = append(out, []rune("&amp;")...)
		case '<':
			out = append(out, []rune("&lt;")...)
		case '"':
			out = append(out, []rune("&quot;")...)
		default:
			out = append(out, r)
		}
	}
	return string(out)
}

// stylesXML defines two cell formats: 0 normal, 1 bold (the header).
const stylesXML = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" +
	`<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">` +
	`<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts>` +
	`<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>` +
	`<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>` +
	`<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>` +
	`<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>` +
	`<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>` +
	`</styleSheet>`
