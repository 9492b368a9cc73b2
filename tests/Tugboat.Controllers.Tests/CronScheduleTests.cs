using Tugboat.Controllers.CronJob;

namespace Tugboat.Controllers.Tests;

public sealed class CronScheduleTests
{
    private static DateTimeOffset T(string s) => DateTimeOffset.Parse(s + "Z", System.Globalization.CultureInfo.InvariantCulture);

    [Theory]
    [InlineData("*/15 * * * *", "2026-01-05T10:15", true)]
    [InlineData("*/15 * * * *", "2026-01-05T10:16", false)]
    [InlineData("0 9-17 * * MON-FRI", "2026-01-05T09:00", true)]
    [InlineData("0 9-17 * * MON-FRI", "2026-01-04T09:00", false)]
    [InlineData("0 0 1 JAN *", "2026-01-01T00:00", true)]
    [InlineData("30 2 * * 7", "2026-01-04T02:30", true)]
    [InlineData("0 0 13 * FRI", "2026-02-13T00:00", true)]
    [InlineData("0 0 13 * FRI", "2026-02-06T00:00", true)]
    [InlineData("0 0 13 * FRI", "2026-02-07T00:00", false)]
    [InlineData("@hourly", "2026-01-05T10:00", true)]
    [InlineData("@daily", "2026-01-05T10:00", false)]
    [InlineData("5,35 * * * *", "2026-01-05T10:35", true)]
    public void MatchesAsCronDoes(string schedule, string at, bool expected) =>
        Assert.Equal(expected, CronSchedule.Parse(schedule).Matches(T(at).UtcDateTime));

    [Theory]
    [InlineData("* * * *")]
    [InlineData("61 * * * *")]
    [InlineData("* * * FOO *")]
    [InlineData("*/0 * * * *")]
    [InlineData("5-1 * * * *")]
    public void RejectsInvalidSchedules(string schedule) => Assert.Throws<FormatException>(() => CronSchedule.Parse(schedule));

    [Fact]
    public void ListsTimesInAWindowLatestLastAndHonoursTimeZones()
    {
        var hourly = CronSchedule.Parse("0 * * * *");
        var times = hourly.Between(T("2026-01-05T09:30"), T("2026-01-05T12:00"), TimeZoneInfo.Utc);
        Assert.Equal([T("2026-01-05T10:00"), T("2026-01-05T11:00"), T("2026-01-05T12:00")], times);
        Assert.Equal([T("2026-01-05T12:00")], hourly.Between(T("2026-01-05T09:30"), T("2026-01-05T12:00"), TimeZoneInfo.Utc, limit: 1));
        Assert.Equal(T("2026-01-05T10:00"), hourly.Next(T("2026-01-05T09:30"), TimeZoneInfo.Utc));
        Assert.Equal(T("2026-01-05T11:00"), hourly.Next(T("2026-01-05T10:00"), TimeZoneInfo.Utc));
        Assert.Null(CronSchedule.Parse("0 0 30 2 *").Next(T("2026-01-05T09:30"), TimeZoneInfo.Utc));
        var berlin = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");
        Assert.Equal([T("2026-01-05T08:00")], CronSchedule.Parse("0 9 * * *").Between(T("2026-01-05T00:00"), T("2026-01-06T00:00"), berlin));
    }

    [Theory]
    [InlineData("0 0 30 2 *", false)]
    [InlineData("0 0 31 4,6,9,11 *", false)]
    [InlineData("0 0 29 2 *", true)]
    [InlineData("0 0 31 * *", true)]
    [InlineData("0 0 30 2 1", true)]
    [InlineData("*/5 * * * *", true)]
    public void KnowsSchedulesThatNeverFire(string schedule, bool fires) =>
        Assert.Equal(fires, CronSchedule.Parse(schedule).FiresAtAll);
}
