package webhook

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// Endpoints on the server's own network.
//
// A webhook endpoint is a URL a company's owner types in, and the server
// then sends requests to it: pointed at the server's own network, it would
// let a tenant reach what only the server can (a cloud metadata service at
// 169.254.169.254, an admin port on localhost, a database on 10.0.0.0/8).
// So the dispatcher's default client refuses to connect to an address that
// is not public, checked on the address it actually dials, after DNS
// resolution: a public name that resolves to such an address is refused as
// well, however it resolves from one attempt to the next. The dispatcher
// never follows redirects, and dials endpoints directly (never through an
// HTTP proxy of the environment, which would dial for it). Dispatcher.
// AllowPrivate lifts the rule for endpoints on the operator's own network
// and for tests.

// nonPublic are the address ranges a webhook may not reach, beyond those
// netip classifies (loopback, private, link-local, multicast, unspecified).
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (carrier-grade NAT)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: may embed any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local NAT64
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
}

// PublicAddress reports whether a webhook may be sent to addr (an IP
// address, IPv4-mapped IPv6 addresses judged as IPv4): false for loopback,
// private, link-local, shared, multicast, unspecified, documentation and
// reserved addresses.
func PublicAddress(addr netip.Addr) bool {
	addr = addr.Unmap()
	if !addr.IsValid() || addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() ||
		addr.IsLinkLocalMulticast() || addr.IsInterfaceLocalMulticast() || addr.IsMulticast() || addr.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// refusePrivate is a net.Dialer Control: it refuses to connect to an
// address that is not public.
func refusePrivate(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook: cannot check the address %q: %w", address, err)
	}
	if !PublicAddress(ap.Addr()) {
		return fmt.Errorf("webhook: refused to connect to %s: not a public address (endpoints on the server's own network need AllowPrivate, -webhook-allow-private)", ap.Addr())
	}
	return nil
}

// The default clients, made once and shared by every dispatcher (an
// http.Client is safe for concurrent use, and its connections are reused).
var (
	publicClient  = sync.OnceValue(func() *http.Client { return defaultClient(false) })
	privateClient = sync.OnceValue(func() *http.Client { return defaultClient(true) })
)

// defaultClient is the dispatcher's client when none is given: no redirects,
// no proxy, and (unless allowPrivate) no address that is not public.
func defaultClient(allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = refusePrivate
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         dialer.DialContext,
			ForceAttemptHTTP2:   true,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConns:        16,
			IdleConnTimeout:     90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
