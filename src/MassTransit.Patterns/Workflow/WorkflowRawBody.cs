using System.Net.Mime;
using System.Security.Cryptography;
using MassTransit.Patterns.Addressing;
using MassTransit.Serialization;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Workflow;

/// <summary>The placeholder a resubmission is sent as: the transport carries the stored raw body, not this object.</summary>
public sealed class WorkflowRawBody;
