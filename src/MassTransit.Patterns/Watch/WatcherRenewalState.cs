namespace MassTransit.Patterns.Watch;

/// <summary>
/// How a watcher's registrations and renewals with its source went: when it last got through, and the failures
/// since (a source that does not answer within <see cref="WatcherOptions.RegistrationTimeout"/>, or refuses it).
/// The watch health check reads it; a watcher whose renewals keep failing stops hearing of changes once its lease ends.
/// </summary>
/// <param name="WatcherId">The watcher's id.</param>
/// <param name="ValueType">The name of the watched values' type.</param>
/// <param name="SourceAddress">The source's registration endpoint; null when registrations are published.</param>
/// <param name="LastRenewedAt">When the last registration or renewal succeeded; null before the first.</param>
/// <param name="Lease">The lease the source granted at the last success; null before the first.</param>
/// <param name="ConsecutiveFailures">Failed registrations or renewals since the last success.</param>
/// <param name="LastFailedAt">When the last one failed; null when none has.</param>
/// <param name="LastFailure">Why the last one failed (exception type and message); null when none has.</param>
/// <param name="Rejected">True when the source refused the watch: the watcher stopped trying.</param>
public sealed record WatcherRenewalState(
    Guid WatcherId,
    string ValueType,
    Uri? SourceAddress,
    DateTimeOffset? LastRenewedAt,
    TimeSpan? Lease,
    int ConsecutiveFailures,
    DateTimeOffset? LastFailedAt,
    string? LastFailure,
    bool Rejected);
