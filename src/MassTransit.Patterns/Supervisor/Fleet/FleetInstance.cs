using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using MassTransit.Patterns.QueueDepth;

namespace MassTransit.Patterns.Supervisor.Fleet;

/// <summary>One live instance as the saga knows it.</summary>
/// <param name="Id">The instance id.</param>
/// <param name="LastSeen">When its last heartbeat arrived (saga clock).</param>
/// <param name="Active">Messages it was consuming.</param>
/// <param name="Waiting">Messages it held waiting for a consumer.</param>
/// <param name="Share">Consumers assigned to it.</param>
public sealed record FleetInstance(string Id, DateTimeOffset LastSeen, int Active, int Waiting, int Share);
