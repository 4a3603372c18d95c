package validate

import "testing"

func TestMobile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"plain", "13800138000", "13800138000", true},
		{"199 range", "19912345678", "19912345678", true},
		{"spaces", " 138 0013 8000 ", "13800138000", true},
		{"dashes", "138-0013-8000", "13800138000", true},
		{"plus86 spaced", "+86 138 0013 8000", "13800138000", true},
		{"plus86 dashed", "+86-138-0013-8000", "13800138000", true},
		{"plus86", "+8613800138000", "13800138000", true},
		{"0086", "008613800138000", "13800138000", true},
		{"86", "8613800138000", "13800138000", true},
		{"full-width digits", "１３８００１３８０００", "13800138000", true},
		{"full-width plus and ideographic space", "＋８６　１３８００１３８０００", "13800138000", true},
		{"full-width hyphen", "138－0013－8000", "13800138000", true},
		{"tab", "138\t0013\t8000", "13800138000", true},
		{"empty", "", "", false},
		{"second digit 2", "12800138000", "", false},
		{"second digit 0", "10800138000", "", false},
		{"not starting with 1", "23800138000", "", false},
		{"ten digits", "1380013800", "", false},
		{"twelve digits", "138001380000", "", false},
		{"plus86 with ten digits", "+86 1380013800", "", false},
		{"plus86 with bad number", "+86 12800138000", "", false},
		{"other country", "+1 13800138000", "", false},
		{"double prefix", "+86+8613800138000", "", false},
		{"letter", "1380013800a", "", false},
		{"arabic-indic digits", "١٣٨٠٠١٣٨٠٠٠", "", false},
		{"parentheses", "(138)00138000", "", false},
		{"landline", "010-62345678", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := Mobile(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("Mobile(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestLandline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"beijing", "010-62345678", "010-62345678", true},
		{"shanghai", "021-52345678", "021-52345678", true},
		{"seven digits", "0755-2345678", "0755-2345678", true},
		{"extension", "0755-1234567-123", "", false}, // number starts with 1
		{"extension ok", "0755-2345678-123", "0755-2345678-123", true},
		{"six-digit extension", "0571-88888888-123456", "0571-88888888-123456", true},
		{"one-digit extension", "0571-88888888-1", "0571-88888888-1", true},
		{"full-width", "０１０－６２３４５６７８", "010-62345678", true},
		{"spaces around hyphen", " 0755 - 86013388 ", "0755-86013388", true},
		{"em dash", "021—62345678", "021-62345678", true},
		{"en dash", "021–62345678", "021-62345678", true},
		{"parenthesised area", "(0755)86013388", "0755-86013388", true},
		{"full-width parentheses", "（0755） 2345678-8", "0755-2345678-8", true},
		{"parenthesised then hyphen", "(010)-62345678", "010-62345678", true},
		{"empty", "", "", false},
		{"no area code", "62345678", "", false},
		{"no hyphen", "01062345678", "", false},
		{"space instead of hyphen", "010 62345678", "", false},
		{"number starts with 0", "010-02345678", "", false},
		{"number starts with 1", "010-12345678", "", false},
		{"number too short", "0755-234567", "", false},
		{"number too long", "0755-234567890", "", false},
		{"extension too long", "0755-2345678-1234567", "", false},
		{"empty extension", "0755-2345678-", "", false},
		{"double hyphen", "0755--2345678", "", false},
		{"four groups", "0755-2345-678-1", "", false},
		{"area without 0", "755-2345678", "", false},
		{"area 00", "00755-2345678", "", false},
		{"area 01x with four digits", "0100-2345678", "", false},
		{"area 02x with four digits", "0210-2345678", "", false},
		{"area 3 digits not 10 or 2x", "035-2345678", "", false},
		{"area too long", "07551-2345678", "", false},
		{"letters", "0755-23456ab", "", false},
		{"unclosed parenthesis", "(0755 2345678", "", false},
		{"mobile", "13800138000", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := Landline(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("Landline(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}
