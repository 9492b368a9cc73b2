using System.Globalization;

namespace Tugboat.Controllers.CronJob;

/// <summary>
/// A standard cron schedule (minute hour day-of-month month day-of-week) or one of the descriptors (@yearly, @monthly,
/// @weekly, @daily, @midnight, @hourly), as CronJobs use: lists, ranges, steps, month and weekday names, 0 or 7 for
/// Sunday, and — as in cron — a day matches when either restricted day field matches.
/// </summary>
public sealed class CronSchedule
{
    private static readonly string[] Months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
    private static readonly string[] Days = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

    private readonly bool[] _minutes;
    private readonly bool[] _hours;
    private readonly bool[] _daysOfMonth;
    private readonly bool[] _months;
    private readonly bool[] _daysOfWeek;
    private readonly bool _anyDayOfMonth;
    private readonly bool _anyDayOfWeek;

    private CronSchedule(string[] f)
    {
        _minutes = Field(f[0], 0, 59, null);
        _hours = Field(f[1], 0, 23, null);
        _daysOfMonth = Field(f[2], 1, 31, null);
        _months = Field(f[3], 1, 12, Months);
        _daysOfWeek = Field(f[4], 0, 7, Days);
        _daysOfWeek[0] |= _daysOfWeek[7];
        _anyDayOfMonth = f[2] is "*" or "?";
        _anyDayOfWeek = f[4] is "*" or "?";
    }

    /// <summary>
    /// Whether the schedule ever comes round: false when only the day of the month restricts days and no chosen month
    /// has any of the chosen days (30 February, 31 April), as such a cron line never fires.
    /// </summary>
    public bool FiresAtAll
    {
        get
        {
            if (!_anyDayOfWeek || _anyDayOfMonth)
            {
                return true;
            }
            for (var month = 1; month <= 12; month++)
            {
                if (!_months[month])
                {
                    continue;
                }
                var longest = month == 2 ? 29 : DateTime.DaysInMonth(2001, month);
                for (var day = 1; day <= longest; day++)
                {
                    if (_daysOfMonth[day])
                    {
                        return true;
                    }
                }
            }
            return false;
        }
    }

    /// <summary>Parses a schedule; throws <see cref="FormatException"/> for what cron would not accept.</summary>
    public static CronSchedule Parse(string text)
    {
        var s = text.Trim();
        s = s switch
        {
            "@yearly" or "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" or "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            _ => s,
        };
        var fields = s.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length != 5)
        {
            throw new FormatException($"expected exactly 5 fields, found {fields.Length}: {text}");
        }
        return new CronSchedule(fields);
    }

    /// <summary>The schedule's times in (<paramref name="after"/>, <paramref name="until"/>], in the given time zone, latest last; at most <paramref name="limit"/> (the latest ones).</summary>
    public List<DateTimeOffset> Between(DateTimeOffset after, DateTimeOffset until, TimeZoneInfo zone, int limit = 100)
    {
        var found = new Queue<DateTimeOffset>();
        var t = after.ToUniversalTime();
        t = new DateTimeOffset(t.Year, t.Month, t.Day, t.Hour, t.Minute, 0, TimeSpan.Zero).AddMinutes(1);
        // A bounded walk: a year of minutes at most, so that an impossible schedule (30 February) ends.
        for (var steps = 0; t <= until && steps < 527_040; steps++, t = t.AddMinutes(1))
        {
            var local = TimeZoneInfo.ConvertTime(t, zone);
            if (Matches(local.DateTime))
            {
                found.Enqueue(t);
                if (found.Count > limit)
                {
                    found.Dequeue();
                }
            }
        }
        return [.. found];
    }

    /// <summary>The first time of the schedule after <paramref name="after"/>, within a year; null when there is none.</summary>
    public DateTimeOffset? Next(DateTimeOffset after, TimeZoneInfo zone)
    {
        var t = after.ToUniversalTime();
        t = new DateTimeOffset(t.Year, t.Month, t.Day, t.Hour, t.Minute, 0, TimeSpan.Zero).AddMinutes(1);
        for (var steps = 0; steps < 527_040; steps++, t = t.AddMinutes(1))
        {
            if (Matches(TimeZoneInfo.ConvertTime(t, zone).DateTime))
            {
                return t;
            }
        }
        return null;
    }

    public bool Matches(DateTime local)
    {
        if (!_minutes[local.Minute] || !_hours[local.Hour] || !_months[local.Month])
        {
            return false;
        }
        var dom = _daysOfMonth[local.Day];
        var dow = _daysOfWeek[(int)local.DayOfWeek];
        return _anyDayOfMonth || _anyDayOfWeek ? dom && dow : dom || dow;
    }

    private static bool[] Field(string field, int min, int max, string[]? names)
    {
        var set = new bool[max + 1];
        foreach (var part in field.Split(','))
        {
            var slash = part.Split('/');
            if (slash.Length > 2)
            {
                throw new FormatException($"invalid step in {field}");
            }
            var step = slash.Length == 2 ? int.Parse(slash[1], CultureInfo.InvariantCulture) : 1;
            if (step <= 0)
            {
                throw new FormatException($"step must be positive in {field}");
            }
            int lo, hi;
            if (slash[0] is "*" or "?")
            {
                (lo, hi) = (min, max == 7 ? 6 : max);
            }
            else
            {
                var range = slash[0].Split('-');
                lo = Value(range[0], names, min);
                hi = range.Length == 2 ? Value(range[1], names, min) : (slash.Length == 2 ? (max == 7 ? 6 : max) : lo);
            }
            if (lo < min || hi > max || lo > hi)
            {
                throw new FormatException($"value out of range in {field}: {min}-{max}");
            }
            for (var v = lo; v <= hi; v += step)
            {
                set[v] = true;
            }
        }
        return set;
    }

    private static int Value(string text, string[]? names, int min)
    {
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            return n;
        }
        var index = names is null ? -1 : Array.IndexOf(names, text.ToUpperInvariant());
        return index >= 0 ? index + min : throw new FormatException($"failed to parse int from {text}");
    }
}
