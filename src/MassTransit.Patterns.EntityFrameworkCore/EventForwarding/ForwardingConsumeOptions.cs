using System.Data.Common;
using MassTransit.Middleware;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Options;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>MassTransit's outbox consume options, plus whether the endpoint uses the inbox.</summary>
sealed class ForwardingConsumeOptions : OutboxConsumeOptions
{
    public bool Inbox { get; init; } = true;

    /// <summary>The endpoint's batched inbox, or null for one transaction per message.</summary>
    public ForwardingBatchCollector? Batch { get; init; }
}
