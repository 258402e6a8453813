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
