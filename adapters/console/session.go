package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"sync"
	"time"
)

// session is a signed-in browser. It holds the hash of the API key the person
// signed in with (never the key) and the session's CSRF token; the map that
// holds sessions is keyed by the hash of the cookie's token, so a leak of the
// map gives neither a usable cookie nor a key.
type session struct {
	keyHash string
	csrf    string
	expires time.Time
	flash   string // a notice to show once, after a redirect
}

type sessions struct {
	mu sync.Mutex
	m  map[string]session
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func tokenHash(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// create stores a new session and returns its cookie token.
func (s *sessions) create(keyHash string, expires time.Time) (string, session) {
	tok := randomToken()
	se := session{keyHash: keyHash, csrf: randomToken(), expires: expires}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]session{}
	}
	now := time.Now()
	for k, v := range s.m { // drop expired sessions
		if now.After(v.expires) {
			delete(s.m, k)
		}
	}
	s.m[tokenHash(tok)] = se
	return tok, se
}

func (s *sessions) get(tok string, now time.Time) (session, bool) {
	if tok == "" {
		return session{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.m[tokenHash(tok)]
	if !ok {
		return session{}, false
	}
	if now.After(se.expires) {
		delete(s.m, tokenHash(tok))
		return session{}, false
	}
	return se, true
}

func (s *sessions) delete(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, tokenHash(tok))
}

// sameToken compares two tokens in constant time; empty never matches.
func sameToken(a, b string) bool {
	return a != "" && b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// setFlash keeps msg for the next page the session shows.
func (s *sessions) setFlash(tok, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if se, ok := s.m[tokenHash(tok)]; ok {
		se.flash = msg
		s.m[tokenHash(tok)] = se
	}
}

// popFlash returns the session's notice and forgets it.
func (s *sessions) popFlash(tok string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.m[tokenHash(tok)]
	if !ok {
		return ""
	}
	msg := se.flash
	se.flash = ""
	s.m[tokenHash(tok)] = se
	return msg
}
