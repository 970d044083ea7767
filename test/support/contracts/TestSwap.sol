// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

interface ITestToken {
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
}

/// A swap-like contract for balance-change tests: it moves two tokens (or ETH and a token) in one call.
/// Prices are whatever the caller asks; it pays out of its own balance. Never deploy it anywhere real.
contract TestSwap {
    /// Takes `amountIn` of `tokenIn` from the caller (needs an allowance) and pays `amountOut` of `tokenOut`.
    function swap(address tokenIn, address tokenOut, uint256 amountIn, uint256 amountOut) external returns (uint256) {
        require(ITestToken(tokenIn).transferFrom(msg.sender, address(this), amountIn), "TestSwap: pull failed");
        require(ITestToken(tokenOut).transfer(msg.sender, amountOut), "TestSwap: pay failed");
        return amountOut;
    }

    /// Keeps the ETH sent and pays `amountOut` of `tokenOut`.
    function buy(address tokenOut, uint256 amountOut) external payable returns (uint256) {
        require(msg.value > 0, "TestSwap: no ETH");
        require(ITestToken(tokenOut).transfer(msg.sender, amountOut), "TestSwap: pay failed");
        return amountOut;
    }

    /// As Uniswap's periphery does: each call runs on this contract with the caller's rights (delegatecall to self).
    function multicall(bytes[] calldata data) external payable returns (bytes[] memory results) {
        results = new bytes[](data.length);
        for (uint256 i = 0; i < data.length; i++) {
            (bool ok, bytes memory result) = address(this).delegatecall(data[i]);
            require(ok, "TestSwap: call failed");
            results[i] = result;
        }
    }
}

/// An ERC-20 whose decimals() depends on who asks: 6 to an anonymous eth_call, 18 to anyone else.
contract FickleDecimalsToken {
    string public constant symbol = "FKL";
    uint256 public totalSupply = 1e24;
    mapping(address => uint256) public balanceOf;

    event Transfer(address indexed from, address indexed to, uint256 value);

    function decimals() external view returns (uint8) {
        return msg.sender == address(0) ? 6 : 18;
    }

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        require(balanceOf[msg.sender] >= amount, "FKL: balance too low");
        balanceOf[msg.sender] -= amount;
        balanceOf[to] += amount;
        emit Transfer(msg.sender, to, amount);
        return true;
    }
}
