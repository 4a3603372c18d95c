package validate

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// testUSCCCheck is an independent implementation of the GB 32100-2015 check
// character, written from the standard's literal weight table, so that the
// tests do not trust USCCCheckChar's 3^i shortcut.
func testUSCCCheck(t *testing.T, body string) byte {
	t.Helper()
	const charset = "0123456789ABCDEFGHJKLMNPQRTUWXY"
	weights := [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}
	sum := 0
	for i, c := range []byte(body) {
		v := strings.IndexByte(charset, c)
		if v < 0 {
			t.Fatalf("test body %q has %q outside the charset", body, c)
		}
		sum += v * weights[i]
	}
	c := 31 - sum%31
	if c == 31 {
		c = 0
	}
	return charset[c]
}

// randomUSCCBody builds a well-formed 17-character body.
func randomUSCCBody(r *rand.Rand) string {
	const charset = "0123456789ABCDEFGHJKLMNPQRTUWXY"
	const registrars = "123456789ANY"
	b := make([]byte, 0, 17)
	b = append(b, registrars[r.IntN(len(registrars))])
	b = append(b, byte('1'+r.IntN(9)))
	for range 6 {
		b = append(b, byte('0'+r.IntN(10)))
	}
	for range 9 {
		b = append(b, charset[r.IntN(len(charset))])
	}
	return string(b)
}

func TestUSCCCheckCharHandVerified(t *testing.T) {
	t.Parallel()
	// Worked by hand: 9·1+1·3+4·9+4·27+0·19+3·26+0·16+0·17+7·20+0·29+8·25+
	// 4·13+6·8+1·24+1·10+3·30+6·28 = 966; 966 mod 31 = 5; 31−5 = 26 → 'T'.
	if c, ok := USCCCheckChar("91440300708461136"); !ok || c != 'T' {
		t.Fatalf("USCCCheckChar = %q, %v; want 'T', true", c, ok)
	}
	// By hand: sum 831; 831 mod 31 = 25; 31−25 = 6 → '6'.
	if c, ok := USCCCheckChar("91440300192203821"); !ok || c != '6' {
		t.Fatalf("USCCCheckChar = %q, %v; want '6', true", c, ok)
	}
	for _, body := range []string{"", "9144030070846113", "914403007084611366", "9144030070846113I"} {
		if _, ok := USCCCheckChar(body); ok {
			t.Errorf("USCCCheckChar(%q) ok, want not ok", body)
		}
	}
}

func TestUSCCCheckCharMatchesStandardTable(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(20151001, 32100))
	for range 2000 {
		body := randomUSCCBody(r)
		want := testUSCCCheck(t, body)
		if got, ok := USCCCheckChar(body); !ok || got != want {
			t.Fatalf("USCCCheckChar(%q) = %q, %v; want %q", body, got, ok, want)
		}
		code := body + string(want)
		if n, ok, bad := USCC(code); !ok || bad || n != code {
			t.Fatalf("USCC(%q) = %q, %v, %v; want valid", code, n, ok, bad)
		}
		// Every other check character is a checksum error, never a format error.
		wrong := usccCharset[(strings.IndexByte(usccCharset, want)+1+r.IntN(30))%31]
		if n, ok, bad := USCC(body + string(wrong)); ok || !bad || n != "" {
			t.Fatalf("USCC(%q) = %q, %v, %v; want badChecksum", body+string(wrong), n, ok, bad)
		}
	}
}

func TestUSCC(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want  string
		ok, badChecksum bool
	}{
		// Real-format codes: the first two checked by hand, the rest computed.
		{"enterprise (hand-checked)", "91440300708461136T", "91440300708461136T", true, false},
		{"enterprise 2 (hand-checked)", "914403001922038216", "914403001922038216", true, false},
		{"law firm registrar 3", "31110000400000448M", "31110000400000448M", true, false},
		{"public institution", "12100000400000016G", "12100000400000016G", true, false},
		{"social organisation", "51110000500000001E", "51110000500000001E", true, false},
		{"registrar Y", "Y1440300MA5ABCDE1U", "Y1440300MA5ABCDE1U", true, false},
		{"registrar N", "N2330100MA2X0Y7U88", "N2330100MA2X0Y7U88", true, false},
		{"MA body", "91110108MA01KJQ2X6", "91110108MA01KJQ2X6", true, false},
		{"lower case", "91110108ma01kjq2x6", "91110108MA01KJQ2X6", true, false},
		{"full-width", "９１４４０３００７０８４６１１３６Ｔ", "91440300708461136T", true, false},
		{"spaces", " 9144 0300 7084 6113 6T ", "91440300708461136T", true, false},

		{"wrong check digit", "914403001922038217", "", false, true},
		{"wrong check letter", "91440300708461136U", "", false, true},
		{"check is forbidden letter", "91440300708461136I", "", false, false},
		{"empty", "", "", false, false},
		{"17 chars", "91440300708461136", "", false, false},
		{"19 chars", "91440300708461136T0", "", false, false},
		{"forbidden I", "91440300I08461136T", "", false, false},
		{"forbidden O", "91440300O08461136T", "", false, false},
		{"forbidden S", "91440300S08461136T", "", false, false},
		{"forbidden V", "91440300V08461136T", "", false, false},
		{"forbidden Z", "91440300Z08461136T", "", false, false},
		{"registrar 0", "01440300708461136T", "", false, false},
		{"registrar B", "B1440300708461136T", "", false, false},
		{"category 0", "90440300708461136T", "", false, false},
		{"category letter", "9A440300708461136T", "", false, false},
		{"division code letter", "9144A300708461136T", "", false, false},
		{"punctuation", "9144-0300708461136T", "", false, false},
		{"dotless i folds to nothing valid", "91440300ı08461136T", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok, bad := USCC(tt.in)
			if got != tt.want || ok != tt.ok || bad != tt.badChecksum {
				t.Fatalf("USCC(%q) = %q, %v, %v; want %q, %v, %v", tt.in, got, ok, bad, tt.want, tt.ok, tt.badChecksum)
			}
		})
	}
}

func TestUSCCLiteralsAgreeWithStandardTable(t *testing.T) {
	t.Parallel()
	for _, code := range []string{
		"91440300708461136T", "914403001922038216", "31110000400000448M", "12100000400000016G",
		"51110000500000001E", "Y1440300MA5ABCDE1U", "N2330100MA2X0Y7U88", "91110108MA01KJQ2X6",
	} {
		if want := testUSCCCheck(t, code[:17]); code[17] != want {
			t.Errorf("literal %q: check char %q, standard table says %q", code, code[17], want)
		}
	}
}
