package server

import (
	"bufio"
	"bytes"
	"cmp"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// MaxConfigFileSize bounds a configuration file (-config).
const MaxConfigFileSize = 1 << 20

// envOfUsage finds the environment variable a flag's usage text names.
var envOfUsage = regexp.MustCompile(`[(;] ?env (LICENSEKIT_[A-Z0-9_]+)`)

// EnvOf returns the environment variable that sets flag f when the flag is
// not given, "" when none does. By convention the usage text of such a flag
// says "(env LICENSEKIT_...)".
func EnvOf(f *flag.Flag) string {
	if m := envOfUsage.FindStringSubmatch(f.Usage); m != nil {
		return m[1]
	}
	return ""
}

// ApplyConfigFile sets the flags of fs that path names, one "name = value" a
// line (blank lines and lines starting with # are skipped; a value may be in
// double quotes, Go syntax), unless the flag was given on the command line or
// its environment variable (EnvOf) is set: the precedence is flags, then the
// environment, then the file, then the defaults. An unknown name, a bad value
// or a repeated name is an error naming the line. An empty path does nothing.
// fs must have been parsed.
func ApplyConfigFile(fs *flag.FlagSet, path string, getenv func(string) string) error {
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxConfigFileSize+1))
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if len(b) > MaxConfigFileSize {
		return fmt.Errorf("config file %s: larger than %d bytes", path, MaxConfigFileSize)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), MaxConfigFileSize)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" {
			return fmt.Errorf("config file %s:%d: want name = value", path, n)
		}
		if strings.HasPrefix(value, `"`) {
			v, err := strconv.Unquote(value)
			if err != nil {
				return fmt.Errorf("config file %s:%d: bad quoted value", path, n)
			}
			value = v
		}
		fl := fs.Lookup(name)
		if fl == nil || name == "config" {
			return fmt.Errorf("config file %s:%d: no flag %q", path, n, name)
		}
		if seen[name] {
			return fmt.Errorf("config file %s:%d: %s is set twice", path, n, name)
		}
		seen[name] = true
		if given[name] {
			continue
		}
		if env := EnvOf(fl); env != "" && getenv(env) != "" {
			continue
		}
		if err := fs.Set(name, value); err != nil {
			return fmt.Errorf("config file %s:%d: %s: %w", path, n, name, err)
		}
	}
	return sc.Err()
}

// envBool reads a boolean environment variable ("" is false); a bad value is
// recorded in *errp.
func envBool(getenv func(string) string, env string, errp *error) bool {
	v := getenv(env)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		*errp = cmp.Or(*errp, fmt.Errorf("%s must be true or false, not %q", env, v))
	}
	return b
}
