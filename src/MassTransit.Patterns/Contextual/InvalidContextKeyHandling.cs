using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.Contextual;

/// <summary>What to do with a context key that is not a valid queue name fragment.</summary>
public enum InvalidContextKeyHandling
{
    /// <summary>Replace every character outside <c>[A-Za-z0-9._-]</c> by <c>-</c>, shorten long keys, and add a hash suffix (see <see cref="ContextKey.Normalize"/>).</summary>
    Sanitize = 0,

    /// <summary>Send the message to the default queue (a valid key with upper-case letters, or ending like a suffixed key, still gets its hash suffix).</summary>
    DefaultQueue = 1
}
