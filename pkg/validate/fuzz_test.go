package validate

import (
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

var (
	mobileRE   = regexp.MustCompile(`^1[3-9]\d{9}$`)
	landlineRE = regexp.MustCompile(`^0(10|2\d|[3-9]\d{2})-[2-9]\d{6,7}(-\d{1,6})?$`)
	usccRE     = regexp.MustCompile(`^[1-9ANY][1-9]\d{6}[0-9A-HJ-NPQRTUWXY]{10}$`)
	emailRE    = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+/=?^_` + "`" + `{|}~.-]{1,64}@([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+([a-z]{2,}|xn--[a-z0-9-]+)$`)
)

func FuzzMobile(f *testing.F) {
	for _, s := range []string{"13800138000", "+86 138 0013 8000", "008613800138000", "8613800138000", "１３８００１３８０００", "12800138000", "", "+86"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := Mobile(s)
		if !ok {
			if n != "" {
				t.Fatalf("Mobile(%q) = %q, false; want empty", s, n)
			}
			return
		}
		if !mobileRE.MatchString(n) {
			t.Fatalf("Mobile(%q) = %q does not match %s", s, n, mobileRE)
		}
		if again, ok := Mobile(n); !ok || again != n {
			t.Fatalf("Mobile(%q) = %q, %v; not stable", n, again, ok)
		}
	})
}

func FuzzLandline(f *testing.F) {
	for _, s := range []string{"010-62345678", "0755-2345678-123", "０１０－６２３４５６７８", "(0755)86013388", "0755 - 86013388", "010-12345678", "", "-", "("} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := Landline(s)
		if !ok {
			if n != "" {
				t.Fatalf("Landline(%q) = %q, false; want empty", s, n)
			}
			return
		}
		if !landlineRE.MatchString(n) {
			t.Fatalf("Landline(%q) = %q does not match %s", s, n, landlineRE)
		}
		if again, ok := Landline(n); !ok || again != n {
			t.Fatalf("Landline(%q) = %q, %v; not stable", n, again, ok)
		}
	})
}

func FuzzEmail(f *testing.F) {
	for _, s := range []string{"a@b.cn", "Zhang.San@Example.COM", "ｕｓｅｒ＠ｅｘａｍｐｌｅ．ｃｏｍ", "a@xn--fiqs8s.xn--fiqs8s", "a@@b.com", "", "@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := Email(s)
		if !ok {
			if n != "" {
				t.Fatalf("Email(%q) = %q, false; want empty", s, n)
			}
			return
		}
		if !emailRE.MatchString(n) || len(n) > 254 || strings.Count(n, "@") != 1 {
			t.Fatalf("Email(%q) = %q breaks the format", s, n)
		}
		if again, ok := Email(n); !ok || again != n {
			t.Fatalf("Email(%q) = %q, %v; not stable", n, again, ok)
		}
	})
}

func FuzzUSCC(f *testing.F) {
	for _, s := range []string{"91440300708461136T", "914403001922038216", "914403001922038217", "91110108ma01kjq2x6", "９１４４０３００７０８４６１１３６Ｔ", "91440300I08461136T", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok, bad := USCC(s)
		if ok && bad {
			t.Fatalf("USCC(%q): ok and badChecksum both true", s)
		}
		if !ok {
			if n != "" {
				t.Fatalf("USCC(%q) = %q, false; want empty", s, n)
			}
			return
		}
		if !usccRE.MatchString(n) {
			t.Fatalf("USCC(%q) = %q does not match %s", s, n, usccRE)
		}
		if c, _ := USCCCheckChar(n[:17]); c != n[17] {
			t.Fatalf("USCC(%q) = %q with wrong check char, want %q", s, n, c)
		}
		if again, ok, bad := USCC(n); !ok || bad || again != n {
			t.Fatalf("USCC(%q) = %q, %v, %v; not stable", n, again, ok, bad)
		}
		// Changing only the check character always gives badChecksum.
		i := strings.IndexByte(usccCharset, n[17])
		wrong := n[:17] + string(usccCharset[(i+1)%31])
		if _, ok, bad := USCC(wrong); ok || !bad {
			t.Fatalf("USCC(%q) = ok %v, badChecksum %v; want badChecksum", wrong, ok, bad)
		}
	})
}

func FuzzNormaliseName(f *testing.F) {
	for _, s := range []string{"深圳市腾讯计算机系统有限公司", "深圳市 腾讯计算机系统（有限公司）", "Tencent Co., Ltd.", "ＡＢＣ", "有限公司", "Co Ltd", "İstanbul", "\xff\xfe", "E  \u03300", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormaliseName(s)
		if !utf8.ValidString(n) {
			t.Fatalf("NormaliseName(%q) = %q, not valid UTF-8", s, n)
		}
		for _, r := range n {
			if isNameSeparator(r) || unicode.IsUpper(r) && unicode.ToLower(r) != r {
				t.Fatalf("NormaliseName(%q) = %q keeps %q", s, n, r)
			}
		}
		if again := NormaliseName(n); again != n {
			t.Fatalf("NormaliseName not idempotent: %q → %q → %q", s, n, again)
		}
		// The other name checks must not panic on anything.
		_ = PlaceholderName(s)
		_ = NicknameLike(s)
		_, _ = Province(s)
		_, _ = LookupIndustry(s)
	})
}
