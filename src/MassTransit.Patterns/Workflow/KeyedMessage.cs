using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.Workflow;

/// <summary>A message's hold key, and how to report the message consumed as the type the key was read from (when it is held).</summary>
sealed record KeyedMessage(string Key, Func<TimeSpan, string, Task> NotifyConsumed);
