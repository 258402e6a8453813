using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.Watch;

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

    /// <summary>
    /// How long to wait for the source's reply to a registration. Default 10 s. A registration whose send has not even
    /// reached the broker by then (MassTransit times a request from its send) is cancelled 1 s later and left behind 1 s
    /// after that: an attempt never waits longer than this plus 2 s, and fails with a <see cref="TimeoutException"/>.
    /// </summary>
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
            WatcherId = WatcherId,
            RenewInterval = RenewInterval,
            RegistrationTimeout = RegistrationTimeout,
            RetryInterval = RetryInterval,
            SourceAddress = SourceAddress,
            UnregisterOnStop = UnregisterOnStop
        };
        copy.Keys.AddRange(Keys);
        copy.Prefixes.AddRange(Prefixes);
        return copy;
    }
}
