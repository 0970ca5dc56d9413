package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
)

// certificate is the server's TLS certificate, read from its PEM files at
// start and again by reload (on SIGHUP): a renewed certificate is served to
// new connections without a restart, and one that fails to load leaves the
// current one in place.
type certificate struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

func loadCertificate(certFile, keyFile string) (*certificate, error) {
	c := &certificate{certFile: certFile, keyFile: keyFile}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// reload reads the files again; on error the current certificate stays.
func (c *certificate) reload() error {
	kp, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cur.Store(&kp)
	return nil
}

// config is the server's TLS configuration: TLS 1.2 at least, the current
// certificate on every handshake.
func (c *certificate) config() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cur.Load(), nil }}
}

// hstsValue asks browsers to use HTTPS only for this host for a year.
const hstsValue = "max-age=31536000"

// withHSTS sets Strict-Transport-Security on every answer (TLS only: a
// browser ignores it over plain HTTP).
func withHSTS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", hstsValue)
		next.ServeHTTP(w, r)
	})
}

// errPlainHTTP refuses plain HTTP on an address other machines can reach.
var errPlainHTTP = errors.New("refusing to serve plain HTTP on a non-loopback address: API keys would cross the network in clear; give -tls-cert and -tls-key, or -insecure-http when a TLS-terminating proxy is in front")

// checkExposure refuses ln when it listens beyond the loopback interface
// without TLS, unless insecure allows it.
func checkExposure(ln net.Listener, tlsOn, insecure bool) error {
	if tlsOn || insecure {
		return nil
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok && a.IP.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s: %w", ln.Addr(), errPlainHTTP)
}
