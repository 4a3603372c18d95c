package validate

import (
	"strings"
	"testing"
)

func TestEmail(t *testing.T) {
	t.Parallel()
	long63 := strings.Repeat("a", 63)
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"simple", "a@b.cn", "a@b.cn", true},
		{"domain lower-cased, local kept", "Zhang.San@Example.COM", "Zhang.San@example.com", true},
		{"sub-domains and plus", "user+tag@mail.example.com.cn", "user+tag@mail.example.com.cn", true},
		{"trimmed", "  x_y@qq.com ", "x_y@qq.com", true},
		{"hyphen in label", "a@my-host.example.org", "a@my-host.example.org", true},
		{"full-width", "ｕｓｅｒ＠ｅｘａｍｐｌｅ．ｃｏｍ", "user@example.com", true},
		{"idna tld", "a@xn--fiqs8s.xn--fiqs8s", "a@xn--fiqs8s.xn--fiqs8s", true},
		{"64-char local", strings.Repeat("l", 64) + "@b.cn", strings.Repeat("l", 64) + "@b.cn", true},
		{"63-char label", "a@" + long63 + ".cn", "a@" + long63 + ".cn", true},
		{"empty", "", "", false},
		{"no at", "plainaddress", "", false},
		{"empty local", "@example.com", "", false},
		{"empty domain", "a@", "", false},
		{"domain without dot", "a@localhost", "", false},
		{"one-letter tld", "a@b.c", "", false},
		{"numeric tld", "a@b.123", "", false},
		{"bare xn-- tld", "a@b.xn--", "", false},
		{"two ats", "a@@b.com", "", false},
		{"at in domain", "a@b@c.com", "", false},
		{"double dot local", "a..b@c.com", "", false},
		{"leading dot local", ".a@b.com", "", false},
		{"trailing dot local", "a.@b.com", "", false},
		{"label starts with hyphen", "a@-b.com", "", false},
		{"label ends with hyphen", "a@b-.com", "", false},
		{"empty label", "a@b..com", "", false},
		{"trailing dot domain", "a@example.com.", "", false},
		{"space inside", "a b@c.com", "", false},
		{"underscore in domain", "a@b_c.com", "", false},
		{"chinese local", "张三@example.com", "", false},
		{"chinese domain", "a@例子.中国", "", false},
		{"65-char local", strings.Repeat("l", 65) + "@b.cn", "", false},
		{"64-char label", "a@" + long63 + "a.cn", "", false},
		{"over 254", strings.Repeat("l", 64) + "@" + strings.Repeat(long63+".", 3) + "cn", "", false},
		{"angle brackets", "<a@b.com>", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := Email(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("Email(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}
