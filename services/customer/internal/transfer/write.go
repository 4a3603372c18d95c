package transfer

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
)

// Neutralise makes a cell safe to open in a spreadsheet (CSV/formula injection): a cell starting
// with = + - @, or with a tab or carriage return that could hide one, gets a leading apostrophe,
// which spreadsheets read as "this is text". An import removes it again.
func Neutralise(s string) string {
	if s != "" && strings.IndexByte(formulaLead, s[0]) >= 0 {
		return "'" + s
	}
	return s
}

// Writer writes rows of text cells to a CSV or XLSX file as they come, in constant memory: CSV in
// UTF-8 with a byte-order mark and CRLF line ends (so that Excel shows Chinese correctly), XLSX
// streamed sheet by sheet. Every text cell is neutralised against formula injection.
type Writer struct {
	csv  *csv.Writer
	xlsx *xlsxWriter
	// numeric marks the columns written as numbers in XLSX.
	numeric []bool
}

// NewWriter returns a writer of format f onto w. numericColumns are column indexes that XLSX
// writes as numbers when the cell parses as one (amounts), so that spreadsheets can sum them.
func NewWriter(w io.Writer, f Format, sheetName string, numericColumns ...int) (*Writer, error) {
	out := &Writer{}
	for _, i := range numericColumns {
		for len(out.numeric) <= i {
			out.numeric = append(out.numeric, false)
		}
		out.numeric[i] = true
	}
	switch f {
	case FormatCSV:
		if _, err := w.Write(bomUTF8); err != nil {
			return nil, err
		}
		out.csv = csv.NewWriter(w)
		out.csv.UseCRLF = true
	case FormatXLSX:
		out.xlsx = newXLSXWriter(w, sheetName)
	default:
		return nil, fmt.Errorf("transfer: unknown format %q", f)
	}
	return out, nil
}

// Write writes one row; the first row written is the header (repeated on every XLSX sheet).
// The cells are neutralised in place.
func (w *Writer) Write(cells []string) error {
	for i, c := range cells {
		// A number such as -12.5 is no formula; everything else is neutralised.
		if !w.isNumeric(i) || !isNumber(c) {
			cells[i] = Neutralise(c)
		}
	}
	if w.csv != nil {
		return w.csv.Write(cells)
	}
	return w.xlsx.write(cells, w.numeric)
}

func (w *Writer) isNumeric(i int) bool { return i < len(w.numeric) && w.numeric[i] }

// isNumber reports whether s is a plain decimal number: optional minus, digits, optional fraction.
func isNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	whole, frac, dot := strings.Cut(s, ".")
	return isDigits(whole) && (!dot || isDigits(frac))
}

// Close finishes the file. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.csv != nil {
		w.csv.Flush()
		return w.csv.Error()
	}
	return w.xlsx.close()
}

// ContentType returns the media type of a format.
func ContentType(f Format) string {
	if f == FormatXLSX {
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	}
	return "text/csv; charset=utf-8"
}
