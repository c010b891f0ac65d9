package argocdhealth

import (
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Argo CD gives scripts only os.time and os.date: nothing that reads
// files or the environment, runs programs or exits.
var safeOSFunctions = map[string]lua.LGFunction{
	"time": osTime,
	"date": osDate,
}

// openSafeOS installs the safe os as the global os.
func openSafeOS(L *lua.LState) int {
	L.Push(L.RegisterModule(lua.OsLibName, safeOSFunctions))
	return 1
}

// loadSafeOS answers require("os").
func loadSafeOS(L *lua.LState) int {
	L.Push(L.SetFuncs(L.NewTable(), safeOSFunctions))
	return 1
}

// osTime returns the current Unix time, or that of a date table (missing
// fields as Argo CD defaults them: noon, minute and second zero).
func osTime(L *lua.LState) int {
	if L.GetTop() == 0 {
		L.Push(lua.LNumber(time.Now().Unix()))
		return 1
	}
	t := L.CheckTable(1)
	field := func(name string, def int) int {
		if n, ok := t.RawGetString(name).(lua.LNumber); ok {
			return int(n)
		}
		return def
	}
	at := time.Date(field("year", -1), time.Month(field("month", -1)), field("day", -1),
		field("hour", 12), field("min", 0), field("sec", 0), 0, time.Local)
	L.Push(lua.LNumber(at.Unix()))
	return 1
}

// osDate formats a time (now, or the Unix time given second) with C's
// strftime conversions; "!" first means UTC, "*t" a date table. It
// reproduces Argo CD's output, quirks included, because a script must
// read here what it reads there: a time given explicitly stays local even
// after "!", yday is always 0, and %a and %x differ from C (see
// strftimeLayouts).
func osDate(L *lua.LState) int {
	format := "%c"
	t := time.Now()
	if L.GetTop() >= 1 {
		format = L.CheckString(1)
		if rest, utc := strings.CutPrefix(format, "!"); utc {
			format, t = rest, t.UTC()
		}
		if L.GetTop() >= 2 {
			t = time.Unix(L.CheckInt64(2), 0)
		}
	}
	if strings.HasPrefix(format, "*t") {
		L.Push(dateTable(L, t))
		return 1
	}
	L.Push(lua.LString(strftime(t, format)))
	return 1
}

func dateTable(L *lua.LState, t time.Time) *lua.LTable {
	d := L.NewTable()
	for name, v := range map[string]int{
		"year": t.Year(), "month": int(t.Month()), "day": t.Day(),
		"hour": t.Hour(), "min": t.Minute(), "sec": t.Second(),
		"wday": int(t.Weekday()) + 1, "yday": 0,
	} {
		d.RawSetString(name, lua.LNumber(v))
	}
	d.RawSetString("isdst", lua.LFalse)
	return d
}

// strftimeLayouts are the conversions os.date knows, as Go layouts, the
// same as Argo CD's: its %a is the literal "mon" (not a Go layout token)
// and its %x the time, where C has the weekday and the date.
var strftimeLayouts = map[byte]string{
	'a': "mon", 'A': "Monday", 'b': "Jan", 'B': "January", 'c': "02 Jan 06 15:04 MST",
	'd': "02", 'F': "2006-01-02", 'H': "15", 'I': "03", 'm': "01", 'M': "04",
	'p': "PM", 'P': "pm", 'S': "05", 'x': "15/04/05", 'X': "15:04:05", 'y': "06", 'Y': "2006",
	'z': "-0700", 'Z': "MST",
}

func strftime(t time.Time, format string) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' || i == len(format)-1 {
			b.WriteByte(c)
			continue
		}
		i++
		switch conv := format[i]; {
		case conv == '%':
			b.WriteByte('%')
		case conv == 'w':
			b.WriteString(strconv.Itoa(int(t.Weekday())))
		case strftimeLayouts[conv] != "":
			b.WriteString(t.Format(strftimeLayouts[conv]))
		default:
			// An unknown conversion stays as written.
			b.WriteByte('%')
			b.WriteByte(conv)
		}
	}
	return b.String()
}
