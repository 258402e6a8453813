namespace MassTransit;

/// <summary>
/// Retries the messages whose saga write lost a race, so every concurrent event is applied once.
/// It depends only on MassTransit's <see cref="ConcurrencyException"/>, so any saga repository that
/// raises it (ours on EF Core, the supervisor's fleet saga) uses the same policy.
/// </summary>
public static class SagaConcurrencyRetryConfigurationExtensions
{
    /// <summary>
    /// Retries a message whose saga update or insert conflicted with a concurrent one
    /// (<see cref="ConcurrencyException"/>), with short jittered intervals, up to
    /// <paramref name="retryLimit"/> times; other exceptions are not retried by this policy. Put it on
    /// the saga's endpoint; add <c>UseInMemoryOutbox</c> too so that a retried event publishes once.
    /// </summary>
    public static void UseSagaConcurrencyRetry(this IConsumePipeConfigurator configurator, int retryLimit = 20)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(retryLimit, 1);
        configurator.UseMessageRetry(r =>
        {
            r.Handle<ConcurrencyException>();
            r.Exponential(retryLimit, TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(15));
        });
    }
}
