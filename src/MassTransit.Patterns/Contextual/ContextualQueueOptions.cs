using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.Contextual;

/// <summary>The knobs of the contextual queue pattern. Validated when the bus is built.</summary>
public sealed class ContextualQueueOptions : IPatternOptions
{
    /// <summary>The default queue: unknown, invalid and overflowing contexts land here. Required.</summary>
    public string DefaultQueueName { get; set; } = "";

    /// <summary>
    /// The name of each context queue; <c>{queue}</c> is replaced by <see cref="DefaultQueueName"/> and <c>{context}</c>
    /// by the sanitized context key. Default <c>{queue}.ctx.{context}</c>.
    /// </summary>
    public string QueueNameTemplate { get; set; } = "{queue}.ctx.{context}";

    /// <summary>The routing exchange producers send to. Default <see cref="DefaultQueueName"/> + <c>.router</c>.</summary>
    public string? RouterExchangeName { get; set; }

    /// <summary>How many messages each context queue consumes at once (its concurrency and prefetch). Default 1.</summary>
    public int ConcurrentMessageLimit { get; set; } = 1;

    /// <summary>How many messages the default queue consumes at once. Default 1.</summary>
    public int DefaultConcurrentMessageLimit { get; set; } = 1;

    /// <summary>Contexts whose queue is created when the bus starts and never retired.</summary>
    public IList<string> StaticContexts { get; } = [];

    /// <summary>Create a queue for a context on first sight (dynamic contexts). Default true; when false only static contexts get a queue.</summary>
    public bool CreateOnDemand { get; set; } = true;

    /// <summary>The most context queues (static and dynamic) at once. Default 32.</summary>
    public int MaxContextQueues { get; set; } = 32;

    /// <summary>
    /// Contexts beyond <see cref="MaxContextQueues"/> are spread by a stable hash over this many bucket queues
    /// (<c>{queue}.bucket.N</c>). Default 0: they go to the default queue.
    /// </summary>
    public int BucketCount { get; set; }

    /// <summary>A dynamic context queue that has had no message for this long is retired (drained and deleted). Default 5 minutes.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often idle queues are looked for. Default a quarter of <see cref="IdleTimeout"/>, at most 30 s.</summary>
    public TimeSpan? IdleCheckInterval { get; set; }

    /// <summary>How long a retiring queue may take to drain before retirement gives up (the queue is then kept, nothing is deleted). Default 1 minute.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>What to do with a context key that is not a valid queue name fragment. Default <see cref="InvalidContextKeyHandling.Sanitize"/>.</summary>
    public InvalidContextKeyHandling InvalidKeys { get; set; } = InvalidContextKeyHandling.Sanitize;

    /// <summary>The longest context fragment used in a queue name; longer keys are cut and suffixed with a hash. At least 10 (a hash suffix and one character). Default 64.</summary>
    public int MaxKeyLength { get; set; } = 64;

    /// <summary>The routing exchange's name as used.</summary>
    public string EffectiveRouterExchangeName => string.IsNullOrWhiteSpace(RouterExchangeName) ? DefaultQueueName + ".router" : RouterExchangeName;

    /// <summary>The idle check interval as used.</summary>
    public TimeSpan EffectiveIdleCheckInterval =>
        IdleCheckInterval ?? TimeSpan.FromTicks(Math.Clamp(IdleTimeout.Ticks / 4, TimeSpan.FromMilliseconds(10).Ticks, TimeSpan.FromSeconds(30).Ticks));

    /// <summary>The queue of a context key (<see cref="ContextKey.Normalize"/>, not the context value itself).</summary>
    public string QueueNameOf(string key) => QueueNameTemplate.Replace("{queue}", DefaultQueueName, StringComparison.Ordinal)
        .Replace("{context}", key, StringComparison.Ordinal);

    /// <summary>The name of bucket queue <paramref name="bucket"/>.</summary>
    public string BucketQueueName(int bucket) => $"{DefaultQueueName}.bucket.{bucket}";

    /// <inheritdoc />
    public void Validate(OptionsValidator validator)
    {
        validator.NotEmpty(DefaultQueueName, nameof(DefaultQueueName));
        validator.Require(QueueNameTemplate?.Contains("{context}", StringComparison.Ordinal) == true, nameof(QueueNameTemplate),
            "must contain {context} (each context needs a queue of its own).");
        validator.Positive(ConcurrentMessageLimit, nameof(ConcurrentMessageLimit));
        validator.Positive(DefaultConcurrentMessageLimit, nameof(DefaultConcurrentMessageLimit));
        validator.NotNegative(MaxContextQueues, nameof(MaxContextQueues));
        validator.NotNegative(BucketCount, nameof(BucketCount));
        validator.Positive(IdleTimeout, nameof(IdleTimeout));
        if (IdleCheckInterval is { } interval)
            validator.Positive(interval, nameof(IdleCheckInterval));
        validator.Positive(DrainTimeout, nameof(DrainTimeout));
        validator.InRange(MaxKeyLength, ContextKey.HashSuffixLength + 1, 200, nameof(MaxKeyLength));
        validator.Require(Enum.IsDefined(InvalidKeys), nameof(InvalidKeys), $"must be Sanitize or DefaultQueue (was {(int)InvalidKeys}).");
        validator.Require(StaticContexts.Count <= MaxContextQueues, nameof(StaticContexts),
            $"has {StaticContexts.Count} contexts, more than MaxContextQueues ({MaxContextQueues}).");
        var queues = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var context in StaticContexts.Distinct(StringComparer.Ordinal))
        {
            if (!ContextKey.IsValid(context, MaxKeyLength))
            {
                validator.Require(false, nameof(StaticContexts), $"'{context}' is not a valid queue name fragment ([A-Za-z0-9._-], at most {MaxKeyLength} characters).");
                continue;
            }
            var key = ContextKey.Normalize(context, InvalidKeys, MaxKeyLength)!;
            var queue = QueueNameTemplate is null ? key : QueueNameOf(key);
            if (queues.TryGetValue(queue, out var other))
                validator.Require(false, nameof(StaticContexts), $"'{context}' and '{other}' map to one queue, {queue} (queue names ignore case).");
            else
                queues[queue] = context;
        }
    }
}
