using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.Watch;

/// <summary>Options of a watch source: the owner of some keyed values and of the registry of their watchers.</summary>
public sealed class WatchSourceOptions : IPatternOptions
{
    /// <summary>The longest key accepted, in characters (the EF Core store's key columns hold 256).</summary>
    public const int KeyLengthLimit = 256;

    /// <summary>The source's name in the store (several sources can share one store). Defaults to the value type's name.</summary>
    public string? Name { get; set; }

    /// <summary>The queue of the source's registration endpoint. Defaults to <c>watch-source-</c> and the source's name, in kebab case.</summary>
    public string? EndpointName { get; set; }

    /// <summary>How long a registration lives without a renewal. A watcher renews at most every half of it. Default 30 s.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often expired registrations are removed (and the watchers gauge refreshed). At most <see cref="LeaseDuration"/>. Default 5 s.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Notifications of one change in flight at once. Default 16.</summary>
    public int FanOutConcurrency { get; set; } = 16;

    /// <summary>
    /// Attempts to send one notification; when the last one fails because the transport says the address
    /// is gone (<see cref="IWatchDeliveryTransport.IsUnreachable"/>), the watcher is pruned at once; other
    /// failures leave it to its lease. Default 3.
    /// </summary>
    public int DeliveryAttempts { get; set; } = 3;

    /// <summary>The pause before the second attempt, doubling with each further one. Default 100 ms.</summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The bound on one send (a send that does not complete within it counts as a failed attempt). Default 10 s.</summary>
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Key filter: when not empty, only keys starting with one of these may be set or watched. Default empty (every key).</summary>
    public List<string> AllowedPrefixes { get; } = [];

    /// <summary>The longest key accepted. Default and maximum <see cref="KeyLengthLimit"/>.</summary>
    public int MaxKeyLength { get; set; } = KeyLengthLimit;

    /// <inheritdoc />
    public void Validate(OptionsValidator validator)
    {
        ArgumentNullException.ThrowIfNull(validator);
        if (Name is not null)
            validator.Require(!string.IsNullOrWhiteSpace(Name) && Name.Length <= 128, nameof(Name), $"must be a non-empty name of at most 128 characters (was '{Name}').");
        if (EndpointName is not null)
            validator.NotEmpty(EndpointName, nameof(EndpointName));
        validator.Positive(LeaseDuration, nameof(LeaseDuration));
        validator.Positive(SweepInterval, nameof(SweepInterval));
        validator.Require(SweepInterval <= LeaseDuration, nameof(SweepInterval), $"must not exceed LeaseDuration {LeaseDuration} (was {SweepInterval}): expired watchers would outlive their lease by more than a lease.");
        validator.InRange(FanOutConcurrency, 1, 1024, nameof(FanOutConcurrency));
        validator.InRange(DeliveryAttempts, 1, 100, nameof(DeliveryAttempts));
        validator.NotNegative(RetryInterval, nameof(RetryInterval));
        validator.Positive(SendTimeout, nameof(SendTimeout));
        validator.InRange(MaxKeyLength, 1, KeyLengthLimit, nameof(MaxKeyLength));
        for (var i = 0; i < AllowedPrefixes.Count; i++)
            validator.Require(!string.IsNullOrEmpty(AllowedPrefixes[i]) && AllowedPrefixes[i].Length <= MaxKeyLength, $"{nameof(AllowedPrefixes)}[{i}]",
                $"must be a non-empty prefix of at most {MaxKeyLength} characters (was '{AllowedPrefixes[i]}').");
    }

    /// <summary>Why <paramref name="key"/> may not be set or watched; null when it may.</summary>
    internal string? Refuse(string? key, bool prefix = false)
    {
        if (string.IsNullOrEmpty(key))
            return prefix ? "an empty prefix" : "an empty key";
        if (key.Length > MaxKeyLength)
            return $"'{key[..Math.Min(key.Length, 32)]}...' is longer than {MaxKeyLength} characters";
        if (AllowedPrefixes.Count > 0 && !AllowedPrefixes.Any(p => key.StartsWith(p, StringComparison.Ordinal)))
            return $"'{key}' is outside the allowed prefixes ({string.Join(", ", AllowedPrefixes)})";
        return null;
    }
}

/// <summary>Options of one watcher: the keys it watches and how it keeps its registration alive.</summary>
public sealed class WatcherOptions : IPatternOptions
{
    /// <summary>Keys watched exactly.</summary>
    public List<string> Keys { get; } = [];

    /// <summary>Key prefixes watched: every key starting with one of them, also keys created later.</summary>
    public List<string> Prefixes { get; } = [];

    /// <summary>The watcher's id; a fixed one lets a restarted watcher replace its old registration. Default: a new id.</summary>
    public Guid? WatcherId { get; set; }

    /// <summary>
    /// How often the registration is renewed (each renewal also brings back the current values, so a
    /// missed notification is caught up within one interval). The watcher renews at most every half of
    /// the lease the source grants. Default 10 s.
    /// </summary>
    public TimeSpan RenewInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long to wait for the source's reply to a registration. Default 10 s.</summary>
    public TimeSpan RegistrationTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The pause before registering again after a failed registration. Default 1 s.</summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The source's registration endpoint; null to publish the registration (routed to the source's endpoint by its type). Default null.</summary>
    public Uri? SourceAddress { get; set; }

    /// <summary>Whether a watcher that stops cleanly cancels its registration (a crashed one is pruned instead). Default true.</summary>
    public bool UnregisterOnStop { get; set; } = true;

    /// <inheritdoc />
    public void Validate(OptionsValidator validator)
    {
        ArgumentNullException.ThrowIfNull(validator);
        validator.Require(Keys.Count + Prefixes.Count > 0, nameof(Keys), "is empty and so is Prefixes: a watcher must watch at least one key or prefix.");
        for (var i = 0; i < Keys.Count; i++)
            validator.Require(!string.IsNullOrEmpty(Keys[i]) && Keys[i].Length <= WatchSourceOptions.KeyLengthLimit, $"{nameof(Keys)}[{i}]",
                $"must be a non-empty key of at most {WatchSourceOptions.KeyLengthLimit} characters (was '{Keys[i]}').");
        for (var i = 0; i < Prefixes.Count; i++)
            validator.Require(!string.IsNullOrEmpty(Prefixes[i]) && Prefixes[i].Length <= WatchSourceOptions.KeyLengthLimit, $"{nameof(Prefixes)}[{i}]",
                $"must be a non-empty prefix of at most {WatchSourceOptions.KeyLengthLimit} characters (was '{Prefixes[i]}').");
        validator.Require(WatcherId != Guid.Empty, nameof(WatcherId), "must not be Guid.Empty.");
        validator.Positive(RenewInterval, nameof(RenewInterval));
        validator.Positive(RegistrationTimeout, nameof(RegistrationTimeout));
        validator.Positive(RetryInterval, nameof(RetryInterval));
    }

    internal WatcherOptions Copy()
    {
        var copy = new WatcherOptions
        {
            WatcherId = WatcherId, RenewInterval = RenewInterval, RegistrationTimeout = RegistrationTimeout, RetryInterval = RetryInterval,
            SourceAddress = SourceAddress, UnregisterOnStop = UnregisterOnStop
        };
        copy.Keys.AddRange(Keys);
        copy.Prefixes.AddRange(Prefixes);
        return copy;
    }
}
