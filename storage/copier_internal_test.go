package storage

import (
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/shopspring/decimal"
	"pgregory.net/rapid"
)

type copyInner struct {
	Name  string             `json:"name"`
	Tags  []string           `json:"tags,omitempty"`
	At    time.Time          `json:"at"`
	Price *decimal.Decimal   `json:"price,omitempty"`
	M     map[string][]int64 `json:"m,omitempty"`
	Plain []int64            `json:"plain"`
}

type copyOuter struct {
	ID    string         `json:"id"`
	Inner copyInner      `json:"inner"`
	List  []copyInner    `json:"list,omitempty"`
	Ptr   *copyInner     `json:"ptr,omitempty"`
	Arr   [2]*copyInner  `json:"arr"`
	Any   any            `json:"any"`
	Self  *copyOuter     `json:"self,omitempty"`
	Seen  map[string]int `json:"seen"`
	note  []string       // unexported: shared, as JSON never sees it
}

func drawSlice[T any](t *rapid.T, label string, elem func(*rapid.T, string) T) []T {
	switch rapid.IntRange(0, 3).Draw(t, label+"-shape") {
	case 0:
		return nil
	case 1:
		return []T{}
	}
	n := rapid.IntRange(1, 3).Draw(t, label+"-len")
	s := make([]T, n, n+rapid.IntRange(0, 2).Draw(t, label+"-spare"))
	for i := range s {
		s[i] = elem(t, label)
	}
	return s
}

func drawInner(t *rapid.T, label string) copyInner {
	in := copyInner{
		Name:  rapid.String().Draw(t, label+"-name"),
		Tags:  drawSlice(t, label+"-tags", func(t *rapid.T, l string) string { return rapid.String().Draw(t, l) }),
		At:    time.Unix(rapid.Int64Range(0, 1e10).Draw(t, label+"-at"), 0).UTC(),
		Plain: drawSlice(t, label+"-plain", func(t *rapid.T, l string) int64 { return rapid.Int64().Draw(t, l) }),
	}
	if rapid.Bool().Draw(t, label+"-price") {
		d := decimal.New(rapid.Int64().Draw(t, label+"-cents"), -2)
		in.Price = &d
	}
	switch rapid.IntRange(0, 2).Draw(t, label+"-m") {
	case 1:
		in.M = map[string][]int64{}
	case 2:
		in.M = map[string][]int64{"a": {1, 2}, "b": nil}
	}
	return in
}

func drawOuter(t *rapid.T, depth int) copyOuter {
	o := copyOuter{
		ID:    rapid.String().Draw(t, "id"),
		Inner: drawInner(t, "inner"),
		List:  drawSlice(t, "list", drawInner),
		note:  []string{"private"},
	}
	if rapid.Bool().Draw(t, "ptr") {
		p := drawInner(t, "ptr")
		o.Ptr = &p
	}
	for i := range o.Arr {
		if rapid.Bool().Draw(t, "arr") {
			p := drawInner(t, "arr")
			o.Arr[i] = &p
		}
	}
	switch rapid.IntRange(0, 2).Draw(t, "any") {
	case 1:
		o.Any = []any{"x", map[string]any{"k": []any{1.5}}}
	case 2:
		o.Any = drawInner(t, "any")
	}
	if depth > 0 && rapid.Bool().Draw(t, "self") {
		s := drawOuter(t, depth-1)
		o.Self = &s
	}
	if rapid.Bool().Draw(t, "seen") {
		o.Seen = map[string]int{"n": 1}
	}
	return o
}

// aliases reports the first place where a and b (deeply equal values of one
// type) share memory through exported fields: a copy must share none.
func aliases(a, b reflect.Value, path string) string {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
		return aliases(a.Elem(), b.Elem(), path)
	case reflect.Slice:
		if a.Cap() > 0 && a.Pointer() == b.Pointer() {
			return path
		}
		for i := range a.Len() {
			if p := aliases(a.Index(i), b.Index(i), path+"[]"); p != "" {
				return p
			}
		}
	case reflect.Map:
		if !a.IsNil() && a.Pointer() == b.Pointer() {
			return path
		}
		for _, k := range a.MapKeys() {
			if p := aliases(a.MapIndex(k), b.MapIndex(k), path+"{}"); p != "" {
				return p
			}
		}
	case reflect.Interface:
		if !a.IsNil() {
			return aliases(a.Elem(), b.Elem(), path)
		}
	case reflect.Array:
		for i := range a.Len() {
			if p := aliases(a.Index(i), b.Index(i), path+"[]"); p != "" {
				return p
			}
		}
	case reflect.Struct:
		if a.Type() == reflect.TypeFor[decimal.Decimal]() || a.Type() == reflect.TypeFor[time.Time]() {
			return "" // immutable by their packages; shared on purpose
		}
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() {
				if p := aliases(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); p != "" {
					return p
				}
			}
		}
	}
	return ""
}

// nilEmpties is the reference for copying with nilEmpty: every empty slice
// or map in an omitempty field, outside maps and interfaces, set to nil.
func nilEmpties(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			nilEmpties(v.Elem())
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			nilEmpties(v.Index(i))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			if k := f.Type.Kind(); (k == reflect.Slice || k == reflect.Map) && v.Field(i).Len() == 0 && strings.Contains(f.Tag.Get("json"), ",omitempty") {
				v.Field(i).SetZero()
				continue
			}
			nilEmpties(v.Field(i))
		}
	}
}

// The copies Load hands out and SaveKept keeps equal the original, share
// nothing with it that a caller could change, and (kept) have the empty
// omitempty lists a decode would leave nil.
func TestCopierCopiesDeeply(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := drawOuter(t, 2)
		c := cloneValue(v)
		runtime.GC() // a copy the collector could not see would be freed here
		if !reflect.DeepEqual(v, c) {
			t.Fatalf("copy differs:\n%#v\n%#v", v, c)
		}
		if p := aliases(reflect.ValueOf(v), reflect.ValueOf(c), "v"); p != "" {
			t.Fatalf("the copy shares %s with the original", p)
		}
		if &v.note[0] != &c.note[0] {
			t.Fatal("unexported fields are shared, not copied")
		}

		var kept copyOuter
		copierOf(reflect.TypeFor[copyOuter]()).at(unsafe.Pointer(&kept), unsafe.Pointer(&v), true)
		want := cloneValue(v)
		nilEmpties(reflect.ValueOf(&want).Elem())
		if !reflect.DeepEqual(want, kept) {
			t.Fatalf("kept copy:\n%#v\nwant\n%#v", kept, want)
		}
		if p := aliases(reflect.ValueOf(v), reflect.ValueOf(kept), "v"); p != "" {
			t.Fatalf("the kept copy shares %s with the original", p)
		}
	})
}
