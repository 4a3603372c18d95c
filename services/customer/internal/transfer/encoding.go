package transfer

import (
	"bytes"
	"unicode/utf8"
)

// Encoding is the text encoding of a CSV file.
type Encoding string

// Encodings recognised in CSV files. Without a byte-order mark a file is UTF-8 when all of it is
// valid UTF-8, and GB18030 (GBK, GB2312: what Excel writes on Chinese Windows) when all of it is
// valid GB18030; anything else is refused.
const (
	EncodingUTF8    Encoding = "UTF-8"
	EncodingUTF8BOM Encoding = "UTF-8-BOM"
	EncodingGB18030 Encoding = "GB18030"
	EncodingUTF16LE Encoding = "UTF-16LE"
	EncodingUTF16BE Encoding = "UTF-16BE"
)

var (
	bomUTF8    = []byte{0xEF, 0xBB, 0xBF}
	bomUTF16LE = []byte{0xFF, 0xFE}
	bomUTF16BE = []byte{0xFE, 0xFF}
)

// bomEncoding returns the encoding announced by a byte-order mark at the start of head and the
// mark's length, or "" and 0.
func bomEncoding(head []byte) (Encoding, int) {
	switch {
	case bytes.HasPrefix(head, bomUTF8):
		return EncodingUTF8BOM, len(bomUTF8)
	case bytes.HasPrefix(head, bomUTF16LE):
		return EncodingUTF16LE, len(bomUTF16LE)
	case bytes.HasPrefix(head, bomUTF16BE):
		return EncodingUTF16BE, len(bomUTF16BE)
	}
	return "", 0
}

// detector watches the raw bytes of a file without a byte-order mark and tells whether they are
// valid UTF-8 and valid GB18030, in one pass and constant memory. It is an io.Writer so that it can
// sit on a TeeReader in front of the CSV parser.
type detector struct {
	utf8Bad bool
	// carry holds an incomplete UTF-8 sequence at the end of the previous write.
	carry []byte
	// gbState is the position in a GB18030 sequence: 0 between characters, 1 after a lead byte,
	// 2 after lead + digit, 3 after lead + digit + lead (four-byte form).
	gbState int
	gbBad   bool
	// nul is set by a NUL byte: binary data or UTF-16 without a byte-order mark, not text.
	nul bool
}

func (d *detector) Write(p []byte) (int, error) {
	if bytes.IndexByte(p, 0) >= 0 {
		d.nul = true
	}
	if !d.utf8Bad {
		d.checkUTF8(p)
	}
	if !d.gbBad {
		d.checkGB18030(p)
	}
	return len(p), nil
}

func (d *detector) checkUTF8(p []byte) {
	if len(d.carry) > 0 {
		// Complete the rune cut by the previous write with the first bytes of this one.
		var buf [utf8.UTFMax]byte
		k := copy(buf[:], d.carry)
		k += copy(buf[k:], p)
		if !utf8.FullRune(buf[:k]) {
			d.carry = append(d.carry[:0], buf[:k]...)
			return
		}
		r, size := utf8.DecodeRune(buf[:k])
		if r == utf8.RuneError && size <= 1 {
			d.utf8Bad = true
			return
		}
		p = p[size-len(d.carry):]
		d.carry = d.carry[:0]
	}
	// Hold back a rune cut by the end of this write: at most 3 bytes of a started sequence.
	cut := len(p)
	for i := len(p) - 1; i >= 0 && i >= len(p)-utf8.UTFMax; i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				cut = i
			}
			break
		}
	}
	if !utf8.Valid(p[:cut]) {
		d.utf8Bad = true
		return
	}
	d.carry = append(d.carry, p[cut:]...)
}

// checkGB18030 follows the byte structure of GB18030: single bytes 00–7F; two bytes 81–FE then
// 40–7E or 80–FE; four bytes 81–FE, 30–39, 81–FE, 30–39. 80 and FF never occur.
func (d *detector) checkGB18030(p []byte) {
	s := d.gbState
	for _, b := range p {
		switch s {
		case 0:
			switch {
			case b <= 0x7F:
			case b >= 0x81 && b <= 0xFE:
				s = 1
			default:
				d.gbBad = true
				return
			}
		case 1:
			switch {
			case (b >= 0x40 && b <= 0x7E) || (b >= 0x80 && b <= 0xFE):
				s = 0
			case b >= 0x30 && b <= 0x39:
				s = 2
			default:
				d.gbBad = true
				return
			}
		case 2:
			if b < 0x81 || b > 0xFE {
				d.gbBad = true
				return
			}
			s = 3
		case 3:
			if b < 0x30 || b > 0x39 {
				d.gbBad = true
				return
			}
			s = 0
		}
	}
	d.gbState = s
}

// result names the encoding once every byte has been seen, or returns a *FileError.
func (d *detector) result() (Encoding, error) {
	switch {
	case d.nul:
		return "", fileError(ReasonEncoding,
			"文件不是文本格式的 CSV（含有空字节，可能是二进制文件或无 BOM 的 UTF-16）；请在 Excel 中另存为“CSV UTF-8（逗号分隔）”或上传 .xlsx",
			"the file is not CSV text (it contains NUL bytes: binary, or UTF-16 without a byte-order mark); save it from Excel as \"CSV UTF-8 (Comma delimited)\" or upload the .xlsx")
	case !d.utf8Bad && len(d.carry) == 0:
		return EncodingUTF8, nil
	case !d.gbBad && d.gbState == 0:
		return EncodingGB18030, nil
	}
	return "", fileError(ReasonEncoding,
		"无法识别文件编码：既不是 UTF-8 也不是 GB18030/GBK；请在 Excel 中另存为“CSV UTF-8（逗号分隔）”后重新上传",
		"unknown text encoding: the file is neither UTF-8 nor GB18030/GBK; save it from Excel as \"CSV UTF-8 (Comma delimited)\" and upload it again")
}

func errBadUTF8() *FileError {
	return fileError(ReasonEncoding,
		"文件标记为 UTF-8（带 BOM），但含有无效的 UTF-8 字节；请在 Excel 中重新另存为“CSV UTF-8（逗号分隔）”",
		"the file is marked as UTF-8 (byte-order mark) but holds invalid UTF-8 bytes; save it again from Excel as \"CSV UTF-8 (Comma delimited)\"")
}
