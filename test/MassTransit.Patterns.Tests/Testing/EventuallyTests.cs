using MassTransit.Patterns.Testing;

namespace MassTransit.Patterns.Tests.Testing;

public sealed class EventuallyTests
{
    [Fact]
    public async Task A_failure_message_given_as_a_function_shows_the_values_at_the_deadline_not_at_the_call()
    {
        var seen = 0;
        var failure = await Assert.ThrowsAsync<TimeoutException>(() =>
            Eventually.True(() => ++seen < 0, TimeSpan.FromMilliseconds(100), () => $"checked {seen} times", TimeSpan.FromMilliseconds(5)));

        Assert.True(seen > 1, $"polled {seen} times");
        Assert.EndsWith($": checked {seen} times", failure.Message);
    }

    [Fact]
    public async Task A_condition_that_holds_returns_without_reading_the_message()
    {
        var read = false;
        await Eventually.True(() => true, TimeSpan.FromSeconds(1), () =>
        {
            read = true;
            return "unused";
        });

        Assert.False(read);
    }
}
