namespace MassTransit.Patterns.Watch;

/// <summary>A watcher's registration.</summary>
/// <param name="Source">The watch source's name.</param>
/// <param name="WatcherId">The watcher.</param>
/// <param name="Address">Where its notifications go.</param>
/// <param name="Keys">Keys watched exactly.</param>
/// <param name="Prefixes">Key prefixes watched.</param>
/// <param name="ExpiresAt">When the registration ends unless renewed (UTC).</param>
public sealed record WatcherRegistration(string Source, Guid WatcherId, Uri Address, IReadOnlyList<string> Keys, IReadOnlyList<string> Prefixes, DateTime ExpiresAt);
